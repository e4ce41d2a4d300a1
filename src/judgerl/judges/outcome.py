"""A verdict as a reward: the one rule every door (TRL, the Lambda, the HTTP server, verl) scores by.

A door judges its samples into :class:`~judgerl.verdicts.SampleVerdict` s (or, for a sample stopped before the
judge, builds one with :func:`gated_verdict` or :func:`unscored_verdict`) and turns each into a
:class:`RewardOutcome` with :func:`outcome_from_verdict`. That function alone decides what a sample's score is
(the verdict's score when it is a finite number) and when a sample is unscored (otherwise, with the reason), so
every door agrees on both. What a trainer receives for an unscored sample is the door's business: TRL reads
``score`` (None, which TRL leaves out of the group baseline); doors whose shape cannot carry a gap read
``reward``, which follows the :class:`UnscoredPolicy`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from judgerl.verdicts import CriterionVerdict, SampleVerdict

UnscoredMode = Literal["neutral", "zero", "error"]


#: unscored reasons a response can provoke by its content, length or encoding: the judge answered, but not in the
#: asked form (no JSON after the repair retry, no PASS/FAIL token, too little probability on the labels, a refusal).
#: Timeouts, transport errors, invalid probabilities and budgets are the judge's side and keep the neutral value.
RESPONSE_MAY_CAUSE = (
    "unparsable judge reply",
    "probability on PASS/FAIL",
    "none of PASS/FAIL",
    "none of A/B",
    "the judge refused",
)


def response_may_cause(reason: str | None) -> bool:
    """Whether a policy could produce this unscored reason at will (and so farm a neutral reward with it)."""
    return reason is not None and any(sign in reason for sign in RESPONSE_MAY_CAUSE)


class UnscoredPolicy(BaseModel):
    """What reward an unscored sample gets. It never hides that the sample is unscored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unscored: UnscoredMode = "neutral"
    neutral_value: float = Field(default=0.5, description="Reward of an unscored sample under the neutral policy.")
    max_unscored_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="The Nova doors fail a batch whose share of unscored samples is above this (1 never fails it).",
    )

    @field_validator("neutral_value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    def reward_for_unscored(self, reason: str | None = None) -> float:
        """The neutral value for a judge-side failure; 0 under every policy when the reason is one the response
        itself can provoke (see :func:`response_may_cause`), so that no reply can be written to earn it."""
        if self.unscored == "neutral" and not response_may_cause(reason):
            return self.neutral_value
        return 0.0

    def __str__(self) -> str:
        return f"neutral({self.neutral_value:g})" if self.unscored == "neutral" else self.unscored


@dataclass(frozen=True)
class RewardOutcome:
    """One sample's reward for a trainer, and everything needed to explain it.

    ``criteria`` maps each criterion to its value (p_pass, or 1/0 from a generated verdict) or None where that
    criterion is unscored; ``reward`` is the judge's score, or the policy's value when ``score`` is None."""

    id: str
    reward: float
    score: float | None
    unscored_reason: str | None = None
    criteria: dict[str, float | None] = field(default_factory=dict)
    rationales: dict[str, str] = field(default_factory=dict)
    latency_s: float = 0.0
    gate_failed: str | None = None
    judge_model: str = ""
    cached_criteria: int = 0

    @property
    def unscored(self) -> bool:
        return self.score is None

    def criterion_value(self, name: str, policy: UnscoredPolicy) -> float:
        """A number for shapes that cannot carry a gap (OpenRLHF extra_logs, verl extra keys)."""
        value = self.criteria.get(name)
        return policy.reward_for_unscored() if value is None else value


def verdict_score(verdict: SampleVerdict) -> float | None:
    """The score a verdict gives a trainer: its score when it is a finite number, else None (unscored)."""
    score = verdict.score
    return float(score) if score is not None and math.isfinite(score) else None


def outcome_from_verdict(verdict: SampleVerdict, policy: UnscoredPolicy | None = None) -> RewardOutcome:
    """The outcome of one verdict; ``policy`` (default: neutral 0.5) sets ``reward`` when it is unscored."""
    policy = policy or UnscoredPolicy()
    criteria: dict[str, float | None] = {}
    rationales: dict[str, str] = {}
    for criterion in verdict.criteria:
        if criterion.p_pass is not None:
            criteria[criterion.name] = float(criterion.p_pass)
        elif criterion.passed is not None:
            criteria[criterion.name] = 1.0 if criterion.passed else 0.0
        else:
            criteria[criterion.name] = None
        if criterion.rationale:
            rationales[criterion.name] = criterion.rationale
    score = verdict_score(verdict)
    return RewardOutcome(
        id=verdict.id,
        reward=policy.reward_for_unscored(verdict.unscored_reason) if score is None else score,
        score=score,
        unscored_reason=(verdict.unscored_reason or "no score") if score is None else None,
        criteria=criteria,
        rationales=rationales,
        latency_s=verdict.latency_s,
        gate_failed=verdict.gate_failed,
        judge_model=verdict.judge_model,
        cached_criteria=sum(1 for c in verdict.criteria if c.cached),
    )


def unscored_verdict(sample_id: str, reason: str, judge_model: str = "") -> SampleVerdict:
    """The verdict of a sample the judge did not score (bad input, timeout, error), with the reason."""
    return SampleVerdict(id=sample_id, score=None, unscored_reason=reason, judge_model=judge_model)


def gated_verdict(sample_id: str, gate: str, checks: Mapping[str, float | None] | None = None) -> SampleVerdict:
    """The verdict of a sample a gate check stopped before the judge: score 0, the check values as criteria."""
    criteria = [
        CriterionVerdict(name=name, passed=value >= 1.0, p_pass=value)
        for name, value in (checks or {}).items()
        if value is not None
    ]
    return SampleVerdict(id=sample_id, score=0.0, hard_score=0.0, criteria=criteria, gate_failed=gate, judge_model="")
