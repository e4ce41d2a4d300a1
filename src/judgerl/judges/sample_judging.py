"""``SampleJudging``: what every door asks of a judge of samples, whatever its kind (a rubric judge, a cascade of
them, an OpenAI grader), so no door branches on the judge's class."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from judgerl.rubric import Rubric
from judgerl.samples import Sample
from judgerl.verdicts import SampleVerdict


class SampleJudging(Protocol):
    """A judge of samples as the doors see it."""

    concurrency: int

    @property
    def name(self) -> str:
        """The rubric's or the grader's name."""

    @property
    def criterion_names(self) -> list[str]:
        """The rubric's criteria, or a multi grader's sub-graders (a single grader: its own name)."""

    @property
    def criterion_noun(self) -> str:
        """What one of ``criterion_names`` is called in a message: 'criterion' or 'grader'."""

    @property
    def source(self) -> str:
        """The file the judge scores with (for messages)."""

    @property
    def model_id(self) -> str: ...

    @property
    def rubric(self) -> Rubric | None:
        """The rubric (None for a grader, which scores without one)."""

    def describe(self) -> str:
        """One line for start-up logs: what scores."""

    def tally_lines(self) -> list[str]:
        """A cascade's per-stage tally (empty for a single judge)."""

    async def ajudge(
        self, items: Sequence[Sample], progress: Callable[[SampleVerdict], None] | None = None
    ) -> list[SampleVerdict]: ...

    def judge(
        self, items: Sequence[Sample], progress: Callable[[SampleVerdict], None] | None = None
    ) -> list[SampleVerdict]: ...


class _HasRubric(Protocol):
    @property
    def rubric(self) -> Rubric: ...


class RubricScoring:
    """:class:`SampleJudging`'s names for a judge that scores with a rubric (a rubric judge, a rubric cascade)."""

    criterion_noun = "criterion"

    @property
    def name(self: _HasRubric) -> str:
        return self.rubric.name

    @property
    def criterion_names(self: _HasRubric) -> list[str]:
        return list(self.rubric.names)

    @property
    def source(self: _HasRubric) -> str:
        return str(self.rubric.source or "rubric")

    def describe(self: _HasRubric) -> str:
        return f"rubric '{self.rubric.name}' ({len(self.rubric.criteria)} criteria)"
