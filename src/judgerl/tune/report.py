"""What `judgerl tune` keeps: the tuned choice (judgerl.judges.tuned), the trust record, ``summary.json`` and the
terminal table. The trust record has the shape every door reads (``<rubric stem>.trust.json`` beside the rubric,
``$JUDGERL_HOME/trust/pairwise.trust.json`` for pairs, keyed by judge model)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from judgerl.judges.tuned import TunedChoice, save_tuned
from judgerl.settings import home
from judgerl.tune.search import TuneResult

#: a validation figure below this does not earn trust
TRUST_BAR = 0.8


def trust_path(rubric_source: str | Path | None) -> Path:
    if rubric_source is None:
        return home() / "trust" / "pairwise.trust.json"
    path = Path(rubric_source)
    return path.with_name(f"{path.stem}.trust.json")


def save_trust_record(rubric_source: str | Path | None, judge_model: str, result: TuneResult, data: str) -> Path:
    """This judge's held-apart figure as its latest trust record (source "tune", heldout true)."""
    figure = result.heldout.figure
    judged = figure.low if figure.low is not None else figure.value
    record = {
        "source": "tune",
        "metric": result.metric,
        "value": figure.value,
        "low": figure.low,
        "high": figure.high,
        "n": figure.n,
        "data": data,
        "heldout": True,
        "strategy": result.chosen,
        "passed": judged is not None and judged >= TRUST_BAR,
        "at": result.at,
    }
    path = trust_path(rubric_source)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    existing[judge_model] = record
    path.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


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
