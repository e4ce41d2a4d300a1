"""Verdicts: what a judge says about a criterion, a sample, or a pair. A failure is unscored, never 0."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CriterionVerdict(BaseModel):
    """One criterion's verdict. ``p_pass`` is the judge's probability of PASS (None in generate mode when
    only a label was read); ``passed`` is the hard verdict at the criterion's threshold."""

    model_config = ConfigDict(frozen=True)

    name: str
    passed: bool | None
    p_pass: float | None = None
    threshold: float = 0.5
    rationale: str | None = None
    rationale_consistent: bool | None = Field(
        default=None,
        description="Whether the rationale argues for the verdict (the judge's own reading of its stance); False "
        "when it still argued the opposite after one rewrite; None without a rationale or a check.",
    )
    rationale_dropped: str | None = Field(
        default=None,
        description="Why the judge's generated rationale was not kept: it was garbage (empty, a loop, unreadable "
        "characters, markup or a bare label, the prompt echoed, cut off before a sentence) after one rewrite. "
        "The verdict stands; None when a rationale was kept or none was asked for.",
    )
    unscored_reason: str | None = None
    cached: bool = False

    @property
    def scored(self) -> bool:
        return self.passed is not None


class SampleVerdict(BaseModel):
    """A sample's verdict: the rubric score in [0, 1] or None with the reason it is unscored."""

    model_config = ConfigDict(frozen=True)

    id: str
    score: float | None
    hard_score: float | None = None
    criteria: list[CriterionVerdict] = Field(default_factory=list)
    unscored_reason: str | None = None
    gate_failed: str | None = Field(default=None, description="Name of the gate criterion that zeroed the score.")
    mode: Literal["logprob", "generate"] = "logprob"
    judge_model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = Field(default=None, description="Cost of this verdict's judge calls, when priced.")
    latency_s: float = 0.0
    truncated: bool = False
    raw_reply: str | None = Field(default=None, description="The judge's reply when it could not be parsed.")
    cascade_stage: int | None = Field(
        default=None, description="The stage of a judge cascade (from 1) that decided this verdict; None without one."
    )

    @property
    def scored(self) -> bool:
        return self.score is not None


class PairVerdict(BaseModel):
    """A preference between responses A and B, judged in both orders.

    ``p_a_first_order``: P(A better) when A was shown first; ``p_a_second_order``: P(A better) when A was
    shown second. ``p_a`` is their mean (the soft preference). ``winner`` is 'tie' when the two orders
    disagree or the margin is small; ``consistent`` says whether both orders picked the same response."""

    model_config = ConfigDict(frozen=True)

    id: str
    p_a: float | None
    winner: Literal["A", "B", "tie"] | None
    consistent: bool | None = None
    p_a_first_order: float | None = None
    p_a_second_order: float | None = None
    rationale: str | None = None
    rationale_dropped: str | None = Field(
        default=None, description="Why the judge's generated rationale was not kept (garbage); None otherwise."
    )
    unscored_reason: str | None = None
    judge_model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = Field(default=None, description="Cost of this verdict's judge calls, when priced.")
    latency_s: float = 0.0
    truncated: bool = False
    cascade_stage: int | None = Field(
        default=None, description="The stage of a judge cascade (from 1) that decided this verdict; None without one."
    )

    @property
    def scored(self) -> bool:
        return self.p_a is not None
