"""``GraderJudge``: an OpenAI grader file as a judge, beside the rubric and pairwise judges.

It is a :class:`~judgerl.judges.base.Judge`, so it has their fan-out, budget, error guard (a grader that raises
gives an unscored verdict with the reason) and usage accounting (a model grader's tokens). Every door reads a
grade as a :class:`SampleVerdict`:

- ``score`` is the grader's reward, or None with ``unscored_reason`` (each door's failure policy then applies);
- one criterion per sub-grader of a ``multi`` grader (the grader itself otherwise) carries that reward as
  ``p_pass``, and ``passed`` where the grader says it (a ``pass_threshold``, ``passing_labels``, a string_check),
  so Nova's ``metrics_list``, OpenRLHF's ``extra_logs`` and the verdict store show every sub-reward;
- a model grader's ``steps`` become the rationale.

A grader's reward is not bounded to [0, 1]: a score_model's ``range`` or a multi's formula decides it. The item a
grader reads is a judgerl sample's metadata with id, prompt and reference (every serving door, ``judgerl
judge``), or a :class:`GradeRow` a door built itself (training: the dataset row). Built by
``JudgeSpec.grader_judge`` (judges/spec.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from judgerl.graders.grader import Grader, GradeResult
from judgerl.graders.rows import GradeRow, item_from_sample
from judgerl.graders.spec import MultiSpec
from judgerl.judges.base import Judge, Usage
from judgerl.judges.budget import Budget
from judgerl.rubric import Rubric
from judgerl.samples import Sample
from judgerl.verdicts import CriterionVerdict, SampleVerdict


def grade_row(sample: Sample | GradeRow) -> GradeRow:
    """A judgerl sample as the grader reads it (a row passes as it is)."""
    if isinstance(sample, GradeRow):
        return sample
    return GradeRow(sample.id, item_from_sample(sample), sample.response)


class GraderJudge(Judge[GradeRow, SampleVerdict]):
    """A loaded grader as a judge: ``ajudge`` takes judgerl samples or grade rows."""

    item_noun = "sample"
    criterion_noun = "grader"
    #: a grader scores without a rubric
    rubric: Rubric | None = None

    def __init__(
        self, grader: Grader, concurrency: int = 4, source: str | Path = "", budget: Budget | None = None
    ) -> None:
        self.grader = grader
        self.source = str(source) or "grader"
        self._setup(grader.backend, concurrency, budget)

    @property
    def name(self) -> str:
        return self.grader.name

    @property
    def model_id(self) -> str:
        return self.backend.model_id if self.backend is not None else f"grader:{self.name}"

    @property
    def criterion_names(self) -> list[str]:
        spec = self.grader.spec
        return list(spec.graders) if isinstance(spec, MultiSpec) else [self.name]

    def describe(self) -> str:
        return f"{self.grader.spec.type} grader '{self.name}' ({', '.join(self.criterion_names)})"

    async def ajudge(
        self, items: Sequence[Sample | GradeRow], progress: Callable[[SampleVerdict], None] | None = None
    ) -> list[SampleVerdict]:
        return await super().ajudge([grade_row(item) for item in items], progress)

    def judge(
        self, items: Sequence[Sample | GradeRow], progress: Callable[[SampleVerdict], None] | None = None
    ) -> list[SampleVerdict]:
        return super().judge([grade_row(item) for item in items], progress)

    async def _judge_item(self, item: GradeRow, usage: Usage) -> SampleVerdict:
        started = time.perf_counter()
        result = await self.grader.agrade(item.item, item.sample, usage)
        return self.verdict(item.id, result, time.perf_counter() - started, usage)

    def _unscored(self, item: GradeRow, reason: str, usage: Usage | None) -> SampleVerdict:
        return SampleVerdict(
            id=item.id, score=None, unscored_reason=reason, judge_model=self.model_id, **Usage.fields(usage)
        )

    def verdict(
        self, sample_id: str, result: GradeResult, latency_s: float = 0.0, usage: Usage | None = None
    ) -> SampleVerdict:
        parts = result.sub_results if isinstance(self.grader.spec, MultiSpec) else {self.name: result}
        criteria = [
            CriterionVerdict(
                name=name,
                passed=part.passed,
                p_pass=part.reward,
                threshold=0.5 if part.threshold is None else part.threshold,  # the one ``passed`` used
                rationale=part.rationale,
                unscored_reason=part.unscored_reason,
            )
            for name, part in parts.items()
        ]
        return SampleVerdict(
            id=sample_id,
            score=result.reward,
            hard_score=None if result.passed is None else float(result.passed),
            criteria=criteria,
            unscored_reason=result.unscored_reason,
            mode="generate",
            judge_model=self.model_id,
            latency_s=latency_s,
            **Usage.fields(usage),
        )
