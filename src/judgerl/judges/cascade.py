"""Judge cascades: a cheap judge first, the next one only where it is unsure.

A cascade is an ordered list of judges (any backends). Every item starts at the first stage; it moves on to the
next where the current stage is unsure:

- a rubric verdict is unsure when it is unscored, or when any criterion's P(PASS) lies within the stage's
  ``margin`` of that criterion's (calibrated) threshold; a verdict the injection gate decided never escalates
  (it is deterministic), nor does a generate-mode criterion, which has a label but no probability;
- a pair verdict is unsure when it is unscored, when its two orders disagree, or when the order-averaged
  P(A better) lies within the margin of 0.5.

The last stage's verdict is final, whatever it is: a cascade never replaces the strong judge's verdict with a
cheaper one, so on the items it escalates it is exactly its last stage. Stages run batch by batch (all items
through stage 1, the unsure ones through stage 2, ...), so an in-process backend still sees whole batches.
Every verdict records the stage that decided it (``cascade_stage``, from 1; ``judge_model`` is that stage's model)
and carries the tokens, cost and seconds of every stage it went through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic

from judgerl.backends.base import Generation, JudgeBackend, JudgePrompt, LabelResult
from judgerl.errors import JudgerlError
from judgerl.judges.base import ItemT, Judge, VerdictT
from judgerl.judges.injection import INJECTION_GATE
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.judges.sample_judging import RubricScoring
from judgerl.rubric import Rubric
from judgerl.samples import PairSample, Sample
from judgerl.verdicts import CriterionVerdict, PairVerdict, SampleVerdict

#: escalation margin of a stage that names none and has none calibrated
DEFAULT_MARGIN = 0.1


def criterion_unsure(verdict: CriterionVerdict, margin: float) -> bool:
    """Unscored, or P(PASS) within ``margin`` of the threshold; a label without a probability is taken as it is."""
    if not verdict.scored:
        return True
    if verdict.p_pass is None:
        return False
    return abs(verdict.p_pass - verdict.threshold) < margin


def sample_unsure(verdict: SampleVerdict, margin: float) -> bool:
    """Whether a rubric verdict should go on to the next stage."""
    if not verdict.scored:
        return True
    if verdict.gate_failed == INJECTION_GATE:
        return False
    return any(criterion_unsure(c, margin) for c in verdict.criteria)


def pair_unsure(verdict: PairVerdict, margin: float) -> bool:
    """Whether a pair verdict should go on to the next stage: unscored, orders disagree, or near 0.5."""
    if verdict.p_a is None:
        return True
    if not verdict.consistent:
        return True
    return abs(verdict.p_a - 0.5) < margin


class CascadeBackends(JudgeBackend):
    """The backends of a cascade's stages, built and closed together; judging goes through the stages' judges."""

    name = "cascade"

    def __init__(self, backends: Sequence[JudgeBackend]) -> None:
        if len(backends) < 2:
            raise JudgerlError("cascade: needs at least two stages")
        super().__init__(
            model_id=" > ".join(b.model_id for b in backends),
            max_input_tokens=min(b.max_input_tokens for b in backends),
        )
        self.stages = list(backends)
        self.supports_logprobs = all(b.supports_logprobs for b in backends)

    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        raise JudgerlError("a cascade's backends are called through its stages' judges, not directly")

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        raise JudgerlError("a cascade's backends are called through its stages' judges, not directly")

    def check(self) -> None:
        for backend in self.stages:
            backend.check()

    def close(self) -> None:
        for backend in self.stages:
            backend.close()


@dataclass
class StageTally:
    """What one stage did over a cascade's lifetime: items judged, decided, tokens and seconds spent."""

    model: str
    judged: int = 0
    decided: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


@dataclass
class CascadeTally:
    stages: list[StageTally] = field(default_factory=list)

    @property
    def items(self) -> int:
        return self.stages[0].judged if self.stages else 0

    @property
    def escalated_share(self) -> float | None:
        """Share of items the first stage passed on (None before any item)."""
        if not self.items:
            return None
        return 1.0 - self.stages[0].decided / self.items

    def lines(self) -> list[str]:
        """One line per stage, for a command's summary."""
        out = []
        for index, stage in enumerate(self.stages, start=1):
            share = f"{stage.decided / self.items:.0%}" if self.items else "-"
            out.append(
                f"stage {index} ({stage.model}): judged {stage.judged}, decided {stage.decided} ({share}), "
                f"{stage.prompt_tokens + stage.completion_tokens:,} tokens, {stage.seconds:.1f}s"
            )
        return out


class Cascade(Judge[ItemT, VerdictT], Generic[ItemT, VerdictT]):
    """Judges items with ``stages`` in order; see the module docstring. ``margins``: one per stage but the last."""

    backend: JudgeBackend

    def __init__(
        self,
        stages: Sequence[Judge[ItemT, VerdictT]],
        margins: Sequence[float],
        unsure: Callable[[VerdictT, float], bool],
        concurrency: int = 4,
    ) -> None:
        if len(stages) < 2:
            raise JudgerlError("cascade: needs at least two stages")
        if len(margins) != len(stages) - 1:
            raise JudgerlError(f"cascade: {len(stages)} stages need {len(stages) - 1} margins, got {len(margins)}")
        for margin in margins:
            if not 0.0 <= margin <= 1.0:
                raise JudgerlError(f"cascade: margin {margin} must be in [0, 1]")
        self.stages: list[Judge[ItemT, VerdictT]] = list(stages)
        self.margins = list(margins)
        self._unsure: Callable[[VerdictT, float], bool] = unsure
        backends = [backend for backend in (s.backend for s in stages) if backend is not None]
        if len(backends) != len(stages):
            raise JudgerlError("cascade: every stage needs a judge backend")
        self._setup(CascadeBackends(backends), concurrency, None)
        self.tally = CascadeTally([StageTally(s.model_id) for s in stages])

    def tally_lines(self) -> list[str]:
        return self.tally.lines()

    async def ajudge(
        self, items: Sequence[ItemT], progress: Callable[[VerdictT], None] | None = None
    ) -> list[VerdictT]:
        final: list[VerdictT | None] = [None] * len(items)
        spent: list[dict[str, float]] = [{} for _ in items]
        pending = list(range(len(items)))
        for index, stage in enumerate(self.stages):
            last = index == len(self.stages) - 1
            tally = self.tally.stages[index]
            started = time.perf_counter()
            verdicts = await stage.ajudge([items[i] for i in pending])
            tally.seconds += time.perf_counter() - started
            tally.judged += len(pending)
            escalate: list[int] = []
            for position, verdict in zip(pending, verdicts, strict=True):
                tally.prompt_tokens += verdict.prompt_tokens
                tally.completion_tokens += verdict.completion_tokens
                _add_spent(spent[position], verdict)
                if not last and self._unsure(verdict, self.margins[index]):
                    escalate.append(position)
                    continue
                tally.decided += 1
                decided = verdict.model_copy(update={"cascade_stage": index + 1, **spent[position]})
                final[position] = decided
                if progress is not None:
                    progress(decided)
            pending = escalate
            if not pending:
                break
        return [verdict for verdict in final if verdict is not None]


def _add_spent(total: dict[str, float], verdict: SampleVerdict | PairVerdict) -> None:
    """Sum one stage's tokens, seconds and cost into the running totals of an item's verdict."""
    total["prompt_tokens"] = int(total.get("prompt_tokens", 0)) + verdict.prompt_tokens
    total["completion_tokens"] = int(total.get("completion_tokens", 0)) + verdict.completion_tokens
    total["latency_s"] = total.get("latency_s", 0.0) + verdict.latency_s
    if verdict.cost_usd is not None:
        total["cost_usd"] = total.get("cost_usd", 0.0) + verdict.cost_usd


class RubricCascade(RubricScoring, Cascade[Sample, SampleVerdict]):
    """A cascade of rubric judges on one rubric; reads like its last stage (rubric, mode, thresholds)."""

    item_noun = "sample"

    def __init__(self, stages: Sequence[RubricJudge], margins: Sequence[float], concurrency: int = 4) -> None:
        super().__init__(stages, margins, sample_unsure, concurrency)
        self.rubric_stages = list(stages)

    @property
    def rubric(self) -> Rubric:
        return self.rubric_stages[-1].rubric

    @property
    def mode(self) -> str:
        return self.rubric_stages[-1].mode

    @property
    def score_kind(self) -> str:
        return self.rubric_stages[-1].score_kind

    @property
    def thresholds(self) -> dict[str, float]:
        return self.rubric_stages[-1].thresholds

    def threshold(self, name: str) -> float:
        return self.rubric_stages[-1].threshold(name)

    def judge_one(self, sample: Sample) -> SampleVerdict:
        return self.judge([sample])[0]


class PairCascade(Cascade[PairSample, PairVerdict]):
    """A cascade of pairwise judges; reads like its last stage (tie margin, instructions)."""

    item_noun = "pair"

    def __init__(self, stages: Sequence[PairwiseJudge], margins: Sequence[float], concurrency: int = 4) -> None:
        super().__init__(stages, margins, pair_unsure, concurrency)
        self.pair_stages = list(stages)

    @property
    def tie_margin(self) -> float:
        return self.pair_stages[-1].tie_margin

    @property
    def instructions(self) -> str:
        return self.pair_stages[-1].instructions


#: what the doors accept: one judge or a cascade of them
RubricJudging = RubricJudge | RubricCascade
PairJudging = PairwiseJudge | PairCascade
