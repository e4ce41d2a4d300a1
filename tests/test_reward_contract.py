from __future__ import annotations

import asyncio
import json
import logging

import pytest
from pydantic import ValidationError

from judgerl import Sample
from judgerl.errors import RubricError
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.rubric import Rubric
from judgerl.serve.contract import (
    RewardScorer,
    SampleProblem,
    UnscoredPolicy,
    UnscoredSamples,
    outcome_from_verdict,
    reference_text,
)
from judgerl.verdicts import CriterionVerdict, SampleVerdict
from support.serve import ServeBackend, judge_config


def make_scorer(policy: UnscoredPolicy | None = None, concurrency: int = 4) -> RewardScorer:
    built = judge_config(rationales="none").build()
    return RewardScorer(built.rubric_judge, policy, concurrency)


def sample(sample_id: str, response: str) -> Sample:
    return Sample(id=sample_id, prompt="Question?", response=response, reference="Answer.")


def rewards_log(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "judgerl.rewards"]


def test_policies_map_unscored_to_their_reward_and_keep_the_reason() -> None:
    verdict = SampleVerdict(id="x", score=None, unscored_reason="HTTP 500", judge_model="j")
    neutral = outcome_from_verdict(verdict, UnscoredPolicy())
    assert neutral.reward == 0.5 and neutral.unscored and neutral.unscored_reason == "HTTP 500"
    assert outcome_from_verdict(verdict, UnscoredPolicy(neutral_value=0.25)).reward == 0.25
    assert outcome_from_verdict(verdict, UnscoredPolicy(unscored="zero")).reward == 0.0
    scored = SampleVerdict(
        id="y",
        score=0.8,
        criteria=[
            CriterionVerdict(name="a", passed=True, p_pass=0.8),
            CriterionVerdict(name="b", passed=False, rationale="too short"),
            CriterionVerdict(name="c", passed=None, unscored_reason="x"),
        ],
    )
    outcome = outcome_from_verdict(scored, UnscoredPolicy(unscored="zero"))
    assert outcome.reward == 0.8 and not outcome.unscored
    # p_pass when read from probabilities, 1/0 from a generated verdict, None where unscored
    assert outcome.criteria == {"a": 0.8, "b": 0.0, "c": None}
    assert outcome.rationales == {"b": "too short"}
    assert outcome.criterion_value("c", UnscoredPolicy(neutral_value=0.3)) == 0.3
    with pytest.raises(ValidationError):
        UnscoredPolicy(neutral_value=float("nan"))
    with pytest.raises(ValidationError):
        UnscoredPolicy(unscored="skip")  # type: ignore[arg-type]


def test_reference_text_keeps_structured_answers() -> None:
    assert reference_text("x = 4") == "x = 4"
    assert reference_text("  ") is None and reference_text(None) is None
    structured = {"solution": "x = 4", "steps": [1, 2]}
    assert json.loads(reference_text(structured) or "") == structured
    assert reference_text(18) == "18"


def test_scorer_keeps_order_and_reports_every_failure_as_unscored(caplog: pytest.LogCaptureFixture) -> None:
    scorer = make_scorer()
    items = [
        sample("a", "good answer"),
        SampleProblem("b", "messages[-1].role: the last message must be the assistant's response"),
        sample("c", "ERROR"),
        sample("d", "bad answer"),
    ]
    with caplog.at_level(logging.INFO, logger="judgerl.rewards"):
        outcomes = scorer.score(items, door="test")
    assert [o.id for o in outcomes] == ["a", "b", "c", "d"]
    assert [o.unscored for o in outcomes] == [False, True, True, False]
    assert outcomes[0].reward == pytest.approx(0.9) and outcomes[3].reward == pytest.approx(0.2)
    assert outcomes[1].reward == 0.5 and outcomes[1].unscored_reason.startswith("invalid sample: messages[-1]")
    assert "scripted backend error" in (outcomes[2].unscored_reason or "")
    lines = rewards_log(caplog)
    per_sample = [line for line in lines if line["event"] == "judgerl.reward"]
    assert [line["id"] for line in per_sample] == ["a", "b", "c", "d"]
    assert per_sample[2]["unscored"] is True and per_sample[2]["policy"] == "neutral(0.5)"
    assert per_sample[0]["criteria"] == {"safe": 0.95, "correct": 0.9, "polite": 0.9}
    (summary,) = [line for line in lines if line["event"] == "judgerl.batch"]
    assert summary["samples"] == 4 and summary["unscored"] == 2
    warnings = [r for r in caplog.records if r.name == "judgerl.rewards" and r.levelno == logging.WARNING]
    assert len(warnings) == 3  # the two unscored samples and the batch that had them


def test_error_policy_raises_with_the_ids() -> None:
    scorer = make_scorer(UnscoredPolicy(unscored="error"))
    assert [o.reward for o in scorer.score([sample("a", "good")], door="test")] == [pytest.approx(0.9)]
    with pytest.raises(UnscoredSamples) as raised:
        scorer.score([sample("a", "good"), sample("b", "ERROR")], door="test")
    assert [sid for sid, _ in raised.value.unscored] == ["b"]
    assert "1 sample(s) unscored" in str(raised.value)


def test_deadline_unscores_only_the_late_samples() -> None:
    scorer = make_scorer(concurrency=2)
    items = [sample("fast", "good"), sample("slow", "SLOW good"), sample("fast2", "bad")]
    outcomes = scorer.score(items, door="test", timeout_s=1.0)
    assert [o.unscored for o in outcomes] == [False, True, False]
    assert outcomes[1].unscored_reason == "judge timed out after 1 s"


def test_concurrency_is_bounded_across_calls_on_one_loop() -> None:
    backend = ServeBackend(delay_s=0.05)
    active = peak = 0
    original = backend.label_probs

    def counting(prompts, labels):  # type: ignore[no-untyped-def]
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            return original(prompts, labels)
        finally:
            active -= 1

    backend.label_probs = counting  # type: ignore[method-assign]
    rubric = Rubric.load(judge_config().rubric)
    scorer = RewardScorer(RubricJudge(rubric, backend, rationales="none", concurrency=64), concurrency=3)

    async def two_requests() -> None:
        batches = [[sample(f"{n}-{i}", "good") for i in range(6)] for n in range(2)]
        await asyncio.gather(*(scorer.ascore(batch, door="test") for batch in batches))

    asyncio.run(two_requests())
    assert peak == 3


def test_a_criterion_may_not_take_a_reserved_metric_name() -> None:
    rubric = Rubric.from_dict({"criteria": [{"name": "unscored", "text": "x"}]})
    with pytest.raises(RubricError, match="'unscored' is reserved"):
        RewardScorer(RubricJudge(rubric, ServeBackend()))
