"""`judgerl judge --grader G.json`: judge sample rows with an OpenAI grader file instead of a rubric.

Each sample is graded with ``item`` = its metadata plus ``id``, ``prompt`` and ``reference``, and ``sample`` =
its response; the output rows are the same verdicts as a rubric judge's (``score`` is the grader's reward, one
criterion per sub-grader), so `judgerl report` and `judgerl inspect` read them alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from judgerl.cli.backend_options import judge_spec
from judgerl.errors import JudgerlError
from judgerl.judges.grader_judge import GraderJudge
from judgerl.judges.trust import announce_trust
from judgerl.samples import Sample
from judgerl.verdicts import SampleVerdict


def grader_summary(grader: GraderJudge, verdicts: Sequence[SampleVerdict]) -> Table:
    """Per sub-grader (or the grader itself): mean reward and pass rate over scored rows, unscored count."""
    table = Table(title=f"{len(verdicts)} samples graded with {grader.grader.spec.type} grader '{grader.name}'")
    for column in ("grader", "mean reward", "pass rate", "unscored"):
        table.add_column(column, justify="left" if column == "grader" else "right")
    for name in grader.criterion_names:
        rows = [c for v in verdicts for c in v.criteria if c.name == name]
        values = [c.p_pass for c in rows if c.p_pass is not None]
        passes = [c.passed for c in rows if c.passed is not None]
        table.add_row(
            name,
            f"{sum(values) / len(values):.4f}" if values else "-",
            f"{sum(passes) / len(passes):.0%}" if passes else "-",
            str(len(rows) - len(values)),
        )
    scores = [v.score for v in verdicts if v.score is not None]
    mean = f"{sum(scores) / len(scores):.4f}" if scores else "-"
    table.caption = f"mean reward {mean}; unscored samples {len(verdicts) - len(scores)}"
    return table


def judge_with_grader(
    grader_path: Path,
    samples: list[Sample],
    concurrency: int,
    backend_args: dict[str, Any],
    console: Console,
    progress: Any,
) -> tuple[GraderJudge, list[SampleVerdict]]:
    """Grade the samples; a backend is built only when the grader has a model grader."""
    with console.status("loading the grader"):
        grader = judge_spec(**backend_args, concurrency=concurrency).grader_judge(grader_path)
    if grader.backend is not None:
        announce_trust(grader_path, grader.backend.model_id, lambda line: click.echo(line, err=True))
    try:
        verdicts = grader.judge(samples, progress)
    finally:
        if grader.backend is not None:
            grader.backend.close()
    return grader, verdicts


def refuse_rubric_options(with_rubric: bool, pairwise: bool, budgeted: bool) -> None:
    if with_rubric or pairwise:
        raise JudgerlError("--grader replaces --rubric and --pairwise: give one of them")
    if budgeted:
        raise JudgerlError("--max-judge-tokens and --max-cost-usd apply to rubric judging, not to --grader")
