"""What `judgerl tune` keeps: the tuned choice (judgerl.judges.tuned), the trust record every door shows
(judgerl.judges.trust), ``summary.json`` and the terminal table."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from judgerl.judges.trust import Metric, TrustRecord, save_trust
from judgerl.judges.tuned import TunedChoice, save_tuned
from judgerl.tune.search import TuneResult


def save_trust_record(rubric_source: str | Path | None, judge_model: str, result: TuneResult, data: str) -> Path | None:
    """This judge's held-apart figure as its latest trust record (source "tune", heldout true); None when the
    held-apart figure is undefined (one class only)."""
    metric: Metric = "auc" if result.metric == "auc" else "order_averaged_accuracy"
    record = TrustRecord.measured("tune", metric, result.heldout.figure, data, heldout=True, strategy=result.chosen)
    return None if record is None else save_trust(rubric_source, judge_model, record)


def save_choice(rubric_source: str | Path | None, judge_model: str, result: TuneResult, data: str) -> Path:
    choice = TunedChoice(
        strategy=result.strategy,
        metric=result.metric,
        cv=next((c.cv for c in result.candidates if c.name == result.chosen), None),
        heldout=result.heldout.figure.value,
        plain_heldout=result.plain.figure.value,
        n=result.heldout.figure.n,
        data=data,
        at=result.at,
    )
    return save_tuned(rubric_source, judge_model, choice)


def write_summary(out_dir: Path, result: TuneResult, judge_model: str, data: str, command: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary.json"
    body = {"judge_model": judge_model, "data": data, "command": command, **result.model_dump(mode="json")}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


def print_result(console: Console, result: TuneResult, judge_model: str) -> None:
    table = Table(
        title=f"ways of asking '{judge_model}': {result.folds}-fold cross-validation on {result.train_items} items"
    )
    for column in ("candidate", f"cv {result.metric}", "unscored", "tokens/verdict", "s/verdict"):
        table.add_column(column)
    for c in result.candidates:
        cv = f"{c.cv:.3f}" if c.cv is not None else "n/a"
        mark = " (chosen)" if c.name == result.chosen else ""
        table.add_row(c.name + mark, cv, str(c.unscored), f"{c.tokens_per_verdict:.0f}", f"{c.seconds_per_verdict:.2f}")
    console.print(table)
    held = Table(title=f"held apart: {result.heldout_items} items that chose nothing")
    for column in ("strategy", result.metric + " [95% CI]", "unscored", "tokens/verdict", "s/verdict"):
        held.add_column(column)
    for row in (result.heldout, result.plain):
        label = row.strategy + (" (plain log-prob)" if row is result.plain else " (chosen)")
        held.add_row(
            label, str(row.figure), str(row.unscored), f"{row.tokens_per_verdict:.0f}", f"{row.seconds_per_verdict:.2f}"
        )
    console.print(held)
    ratio = result.cost_ratio_seconds
    console.print(
        f"chosen minus plain: {result.difference}; cost {ratio:.2f}x the plain verdict's seconds"
        if ratio is not None
        else f"chosen minus plain: {result.difference}"
    )
