"""Which rubric judges a sample: the run's rubric file, plus per-prompt criteria from a metadata column.

Per-prompt criteria let one run train on prompts with different explicit constraints (IFEval: one prompt asks
for no commas, the next for a title in <<brackets>>): ``reward.row_criteria: criteria`` reads a list of
``{"name": ..., "text": ...}`` from each row's metadata and judges the sample on the file's criteria (if any)
plus its own. Judges are built once per distinct set of criteria.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from judgerl.errors import JudgerlError
from judgerl.judges.cascade import RubricJudging
from judgerl.rubric import Criterion, Rubric
from judgerl.samples import Sample
from judgerl.verdicts import SampleVerdict

ItemT = TypeVar("ItemT")
JudgeT = TypeVar("JudgeT")


class _SampleJudge(Protocol):
    def judge(self, items: Sequence[Any]) -> list[SampleVerdict]: ...


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def criterion_name(text: str) -> str:
    """A criterion name from free text such as an IFEval id: 'punctuation:no_comma' -> 'punctuation.no_comma'."""
    name = _UNSAFE.sub(".", text.strip()).strip(".")
    return name or "criterion"


def row_criteria(value: Any, where: str) -> tuple[Criterion, ...]:
    if not isinstance(value, list) or not value:
        raise JudgerlError(f"{where}: row criteria must be a non-empty list of {{name, text}} or of texts")
    criteria = []
    for index, item in enumerate(value, start=1):
        if isinstance(item, str):
            item = {"name": f"c{index}", "text": item}
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise JudgerlError(f"{where}: criterion #{index} needs a 'text'")
        name = criterion_name(str(item.get("name") or f"c{index}"))
        criteria.append(Criterion(name=name, text=item["text"], weight=float(item.get("weight", 1.0))))
    return tuple(criteria)


class RubricJudges:
    """A rubric judge (or cascade) per sample: the base rubric's criteria plus the sample's row criteria."""

    def __init__(
        self,
        make_judge: Callable[[Rubric], RubricJudging],
        base: Rubric | None = None,
        row_key: str | None = None,
        name: str = "rubric",
        instructions: str = "",
        use_reference: bool = True,
    ) -> None:
        if base is None and row_key is None:
            raise JudgerlError("reward: give a rubric file, row criteria (reward.row_criteria), or both")
        self.make_judge = make_judge
        self.base = base
        self.row_key = row_key
        self.name = base.name if base is not None else name
        self.instructions = "\n\n".join(t for t in (base.instructions if base else "", instructions) if t.strip())
        self.use_reference = base.use_reference if base is not None else use_reference
        self._judges: dict[tuple[Criterion, ...], RubricJudging] = {}

    def rubric_for(self, sample: Sample) -> Rubric:
        criteria: tuple[Criterion, ...] = self.base.criteria if self.base is not None else ()
        if self.row_key is not None:
            extra = row_criteria(sample.metadata.get(self.row_key), f"prompt {sample.metadata.get('prompt_id')}")
            taken = {c.name for c in criteria}
            criteria = criteria + tuple(c for c in extra if c.name not in taken)
        return Rubric(
            name=self.name,
            instructions=self.instructions,
            use_reference=self.use_reference,
            criteria=criteria,
            source=self.base.source if self.base is not None else None,
        )

    def for_sample(self, sample: Sample) -> RubricJudging:
        rubric = self.base if self.row_key is None and self.base is not None else self.rubric_for(sample)
        judge = self._judges.get(rubric.criteria)
        if judge is None:
            judge = self._judges[rubric.criteria] = self.make_judge(rubric)
        return judge


def criteria_key(rubric: Rubric) -> str:
    """The name of a set of criteria as the gate records it: GRPO compares replies judged under one such set."""
    return " | ".join(c.text for c in rubric.criteria)


def group_by_judge(items: Sequence[ItemT], judge_of: Callable[[ItemT], JudgeT]) -> list[tuple[JudgeT, list[int]]]:
    """The positions of ``items`` grouped by the judge each goes to (in order of first appearance), so each judge
    judges all its items in one call: a batch, not one item at a time."""
    groups: dict[int, tuple[JudgeT, list[int]]] = {}
    for position, item in enumerate(items):
        judge = judge_of(item)
        groups.setdefault(id(judge), (judge, []))[1].append(position)
    return list(groups.values())


def judge_in_groups(items: Sequence[ItemT], judge_of: Callable[[ItemT], _SampleJudge]) -> list[SampleVerdict]:
    """Each item judged by its own judge (one call per judge), verdicts in the items' order."""
    verdicts: dict[int, SampleVerdict] = {}
    for judge, positions in group_by_judge(items, judge_of):
        verdicts.update(zip(positions, judge.judge([items[k] for k in positions]), strict=True))
    return [verdicts[k] for k in range(len(items))]
