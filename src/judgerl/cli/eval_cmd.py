"""`judgerl eval CONFIG`: judged scores, and an independent program checker where one applies, on held-out prompts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_cmd


def _pct(value: dict[str, Any] | None) -> str:
    if not value or value.get("n", 0) == 0:
        return "-"
    return f"{value['rate']:.1%} [{value['low']:.1%}, {value['high']:.1%}]"


def report_table(reports: list[Any]) -> Table:
    """One column per evaluated policy: judge and checker pass rates with 95% intervals."""
    table = Table(title="held-out evaluation (95% Wilson intervals)")
    table.add_column("")
    for report in reports:
        table.add_column(report.label, justify="right")
    rows: list[tuple[str, list[str]]] = [("prompts", [str(r.prompts) for r in reports])]
    if any(r.unscored < r.prompts for r in reports):  # else checker-only evaluations: no judge rows
        rows += [
            ("judge: all criteria pass", [_pct(r.judge_pass) for r in reports]),
            (
                "judge: mean score",
                [f"{r.judge_score_mean:.3f}" if r.judge_score_mean is not None else "-" for r in reports],
            ),
            ("judge: unscored", [str(r.unscored) for r in reports]),
        ]
    if any(r.checker != "none" for r in reports):
        rows += [
            (f"checker ({reports[0].checker}): prompt pass", [_pct(r.checker_pass) for r in reports]),
            ("checker: instruction pass", [_pct(r.checker_instruction_pass) for r in reports]),
            ("judge-checker agreement", [f"{r.agreement:.1%}" if r.agreement is not None else "-" for r in reports]),
        ]
    for name, values in rows:
        table.add_row(name, *values)
    kinds = sorted({k for r in reports for k in r.checker_by_instruction})
    for kind in kinds:
        cells = []
        for r in reports:
            judge = r.judge_by_instruction.get(kind)
            checker = r.checker_by_instruction.get(kind)
            cells.append(
                f"judge {judge:.0%} / checker {checker:.0%}"
                if judge is not None and checker is not None
                else f"checker {checker:.0%}"
                if checker is not None
                else "-"
            )
        table.add_row(f"  {kind}", *cells)
    return table


@click.command("eval")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    default="final",
    show_default=True,
    help="'base' (the config's policy), 'final' (the run's trained policy) or a model folder.",
)
@click.option("--label", default=None, help="Name of this evaluation (default: the --policy value).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate only the first N held-out prompts.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=None, help="Default: grpo.max_completion_length.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--compare", "compare_to", default=None, help="Label of an earlier evaluation to compare with (paired).")
@click.option(
    "--no-judge",
    is_flag=True,
    help="Program checker only (IFEval, GSM8K, refusal): no judge call; the responses are left unscored.",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value.")
def eval_command(
    config_path: Path,
    policy: str,
    label: str | None,
    limit: int | None,
    max_new_tokens: int | None,
    batch_size: int,
    compare_to: str | None,
    no_judge: bool,
    overrides: tuple[str, ...],
) -> None:
    """Generate on held-out prompts with a policy, judge the responses, and check them by program where possible."""
    from judgerl.errors import JudgerlError
    from judgerl.train.config import load_config
    from judgerl.train.evaluate import compare, evaluate, load_items, power_line

    config = load_config(config_path, list(overrides))
    name = label or (policy if policy in ("base", "final") else Path(policy).name)
    report = evaluate(
        config,
        policy,
        label=name,
        limit=limit,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        judged=not no_judge,
    )
    console = Console()
    reports = [report]
    if compare_to:
        path = config.run_dir / "eval" / f"{compare_to}.jsonl"
        if not path.exists():
            raise JudgerlError(
                f"{path}: no evaluation labelled '{compare_to}'; run judgerl eval --label {compare_to} first"
            )
        from judgerl.train.evaluate import EvalReport

        earlier = EvalReport.model_validate_json((config.run_dir / "eval" / f"{compare_to}.json").read_text())
        reports = [earlier, report]
    console.print(report_table(reports))
    if compare_to:
        result = compare(load_items(config.run_dir / "eval" / f"{compare_to}.jsonl"), report.items)
        if result.checker_difference:
            d = result.checker_difference
            console.print(
                f"checker pass change {d['rate']:+.1%} [{d['low']:+.1%}, {d['high']:+.1%}] on {result.prompts} "
                f"paired prompts (McNemar p={result.checker_mcnemar_p:.3f})"
            )
            if not (d["low"] > 0 and (result.checker_mcnemar_p or 1.0) < 0.05):
                console.print(f"  not a significant gain: {power_line(result.checker_changed, result.prompts)}")
        if result.judge_difference:
            d = result.judge_difference
            console.print(
                f"judge pass change   {d['rate']:+.1%} [{d['low']:+.1%}, {d['high']:+.1%}] "
                f"(McNemar p={result.judge_mcnemar_p:.3f})"
            )
    console.print(f"saved: {config.run_dir / 'eval' / (name + '.json')} and .jsonl (every response and verdict)")
