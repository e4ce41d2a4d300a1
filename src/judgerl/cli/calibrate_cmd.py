"""`judgerl calibrate`: fit per-criterion thresholds for one judge (or a cascade's escalation margins) and save
them beside the rubric."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from judgerl.cli.backend_options import judge_spec
from judgerl.cli.judge_options import BACKEND_OPTIONS, judge_options, reject_beside_cascade
from judgerl.errors import JudgerlError
from judgerl.judges.cache import VerdictCache
from judgerl.judges.calibration import Threshold, calibration_path, save_margins, save_thresholds
from judgerl.judges.spec import JudgeSpec, load_cascade
from judgerl.judges.trust import TrustRecord, announce_trust, load_trust, save_trust
from judgerl.rubric import Rubric
from judgerl.samples import load_labelled, load_samples
from judgerl.settings import default_cache_path
from judgerl.stats import Estimate
from judgerl.validate.thresholds import contextual_thresholds, labelled_thresholds


@click.command("calibrate")
@judge_options("rubric", "labels", required=("rubric",))
@click.option(
    "--contextual",
    "contextual_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Samples JSONL whose prompts are judged with content-free responses; each threshold becomes "
    "the judge's mean P(PASS) on them (no labels needed).",
)
@click.option("--dry-run", is_flag=True, help="Print the thresholds without saving them.")
@judge_options("concurrency", "cache", "no_cache", "target_agreement", "cascade", *BACKEND_OPTIONS)
def calibrate(
    rubric_path: str,
    labels_path: str | None,
    contextual_path: Path | None,
    dry_run: bool,
    concurrency: int,
    cache_path: str | None,
    no_cache: bool,
    target_agreement: float,
    cascade_path: str | None,
    **backend_args: Any,
) -> None:
    """Calibrate a judge's PASS thresholds per criterion (saved as <rubric>.calibration.json, per judge model).

    Small judges rank responses well but their P(PASS) sits on the wrong side of 0.5; a calibrated threshold
    fixes hard verdicts and pass rates. The soft score (P(PASS)) is unchanged.

    With --cascade FILE and --labels: fit the cascade's escalation margins instead, the smallest (fewest
    escalations) that keep --target-agreement of its last stage's agreement with the labels, and save them beside
    the rubric for that chain of judge models (a stage's own `margin:` still wins). Each stage uses its thresholds
    as they are: calibrate each stage's model first. --labels fits the threshold that best separates the labels.
    """
    rubric_file = Path(rubric_path)
    labels_file = Path(labels_path) if labels_path is not None else None
    cache_file = Path(cache_path) if cache_path is not None else default_cache_path()
    if cascade_path is not None:
        reject_beside_cascade((*backend_args, "contextual_path"))
        if labels_file is None:
            raise JudgerlError("--cascade fits margins on labelled examples: give --labels FILE")
        spec = JudgeSpec(cascade=load_cascade(cascade_path), concurrency=concurrency)
        stored = None if no_cache else cache_file
        _calibrate_cascade(rubric_file, labels_file, spec, target_agreement, dry_run, stored)
        return
    if (labels_file is None) == (contextual_path is None):
        raise JudgerlError("give exactly one of --labels FILE (labelled examples) or --contextual FILE (prompts)")
    rubric = Rubric.load(rubric_file)
    console = Console(stderr=True)
    cache = None if no_cache else VerdictCache(cache_file)
    with console.status("loading the judge model"):
        spec = judge_spec(**backend_args, rationales="none", concurrency=concurrency)
        backend = spec.build_backend()
    announce_trust(rubric_file, backend.model_id, lambda line: click.echo(line, err=True))
    try:
        judge = spec.single_rubric_judge(rubric, backend, cache=cache)
        with console.status("judging calibration examples"):
            if labels_file is not None:
                fitted = labelled_thresholds(judge, load_labelled(labels_file))
            else:
                assert contextual_path is not None
                fitted = contextual_thresholds(judge, load_samples(contextual_path))
    finally:
        backend.close()
        if cache is not None:
            cache.close()
    if not fitted:
        raise JudgerlError("no criterion could be calibrated (no labels matched the rubric's criteria names)")
    table = Table(title=f"thresholds for judge '{backend.model_id}'")
    for column in ("criterion", "threshold", "method", "examples", "balanced accuracy"):
        table.add_column(column)
    for name, value in fitted.items():
        accuracy = f"{value.balanced_accuracy:.2f}" if value.balanced_accuracy is not None else "-"
        table.add_row(name, f"{value.threshold:.3f}", value.method, str(value.n), accuracy)
    console.print(table)
    if dry_run:
        console.print("dry run: nothing saved")
        return
    save_thresholds(rubric_file, backend.model_id, fitted)
    console.print(f"saved to {calibration_path(rubric_file)}; `judgerl judge` uses them for this judge model")
    if labels_file is not None:
        record = calibration_trust(fitted, labels_file)
        kept = load_trust(rubric_file, backend.model_id)
        if kept is not None and kept.heldout:  # an in-sample figure never replaces a held-out one
            click.echo(f"trust record kept: {kept.source}'s held-out {kept.metric} {kept.value:.3f}", err=True)
        elif record is not None:
            path = save_trust(rubric_file, backend.model_id, record)
            click.echo(f"trust record (in-sample balanced accuracy {record.value:.3f}) saved to {path}", err=True)


def calibration_trust(fitted: dict[str, Threshold], labels_path: Path) -> TrustRecord | None:
    """A trust record of a labelled calibration: the balanced accuracy of the fitted thresholds, pooled over the
    criteria (weighted by their labelled rows). It is measured on the rows that chose the thresholds, so it is
    marked not held out and has no interval: `judgerl tune` or `validate` give the honest figure."""
    measured = [(t.balanced_accuracy, t.n) for t in fitted.values() if t.balanced_accuracy is not None and t.n]
    total = sum(n for _, n in measured)
    if not total:
        return None
    value = sum(accuracy * n for accuracy, n in measured) / total
    return TrustRecord.measured(
        "calibrate", "balanced_accuracy", Estimate(value=value, n=total), labels_path, heldout=False
    )


def _calibrate_cascade(
    rubric_path: Path, labels_path: Path, spec: JudgeSpec, target: float, dry_run: bool, cache_file: Path | None
) -> None:
    from judgerl.validate.cascade_curve import fit_margins, judge_stages

    rubric = Rubric.load(rubric_path)
    console = Console(stderr=True)
    cache = None if cache_file is None else VerdictCache(cache_file)
    try:
        with console.status("judging the labelled examples with every stage"):
            runs = judge_stages(spec, rubric, load_labelled(labels_path), cache=cache)
    finally:
        if cache is not None:
            cache.close()
    fit = fit_margins(runs, load_labelled(labels_path), target)
    models = [run.model for run in runs]
    console.print(
        f"margins {fit.margins} for {' > '.join(models)}: agreement {fit.agreement:.3f} against "
        f"{fit.last_stage_agreement:.3f} for the last stage alone, {fit.escalated:.0%} escalated ({fit.n} examples)"
    )
    if fit.escalated is not None and fit.escalated >= 0.9:
        console.print("the first stage carries little usable signal here: the cascade escalates nearly everything")
    if dry_run:
        console.print("dry run: nothing saved")
        return
    save_margins(rubric_path, models, fit)
    console.print(f"saved to {calibration_path(rubric_path)}; every door uses them for this cascade")
