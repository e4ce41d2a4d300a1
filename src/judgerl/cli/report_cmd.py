"""`judgerl report RUN_DIR`: write RUN_DIR/report.html from the run's verdict store."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Output file (default: RUN_DIR/report.html).")
@click.option(
    "--run", "run_name", help="Run name or id inside the store (default: the latest training run, else the latest run)."
)
@click.option(
    "--max-samples",
    default=2000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Samples embedded in the sample browser (an even spread over the run).",
)
@click.option(
    "--clusters",
    "max_clusters",
    default=8,
    show_default=True,
    type=click.IntRange(1, 30),
    help="Most failure-rationale groups per criterion.",
)
def report(run_dir: Path, out: Path | None, run_name: str | None, max_samples: int, max_clusters: int) -> None:
    """Write a self-contained HTML report of a training run or a `judgerl judge` output.

    RUN_DIR holds verdicts.sqlite (or pass the .sqlite file itself). The report has pass-rate curves per
    criterion, reward and judge-cost plots, reward-hacking monitor warnings, the most common failure
    rationales per criterion and a sample browser; it opens offline in any browser."""
    from judgerl.report import build_report

    path = build_report(run_dir, out, run=run_name, max_samples=max_samples, max_clusters=max_clusters)
    click.echo(str(path))
