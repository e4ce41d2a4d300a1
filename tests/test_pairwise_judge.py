from __future__ import annotations

from collections.abc import Sequence

import pytest

from judgerl import PairSample
from judgerl.backends.base import JudgePrompt
from judgerl.judges.pairwise_judge import PairwiseJudge, consistency_rate
from support.fakes import ScriptedBackend


def first_block(prompt: JudgePrompt) -> str:
    return prompt.user.split("## Response A\n", 1)[1].split("\n", 2)[1]


def pair(pair_id: str, a: str, b: str) -> PairSample:
    return PairSample(id=pair_id, prompt="Explain.", response_a=a, response_b=b)


def test_content_judge_is_consistent() -> None:
    # prefers whichever shown response contains "good", in either position
    def probs(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
        p_first = 0.8 if "good" in first_block(prompt) else 0.2
        return {"A": p_first, "B": 1 - p_first}

    judge = PairwiseJudge(ScriptedBackend(probs))
    a_wins, b_wins = judge.judge([pair("1", "good answer", "bad answer"), pair("2", "bad answer", "good answer")])
    assert a_wins.winner == "A" and a_wins.consistent and a_wins.p_a == pytest.approx(0.8)
    assert a_wins.p_a_first_order == pytest.approx(0.8) and a_wins.p_a_second_order == pytest.approx(0.8)
    assert b_wins.winner == "B" and b_wins.p_a == pytest.approx(0.2)
    assert consistency_rate([a_wins, b_wins]) == 1.0


def test_position_biased_judge_gives_ties() -> None:
    judge = PairwiseJudge(ScriptedBackend(lambda p, labels: {"A": 0.9, "B": 0.1}))
    (verdict,) = judge.judge([pair("1", "x", "y")])
    assert verdict.winner == "tie" and verdict.consistent is False
    assert verdict.p_a == pytest.approx(0.5)
    assert consistency_rate([verdict]) == 0.0


def test_small_margin_is_a_tie() -> None:
    def probs(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
        p_first = 0.56 if "x" in first_block(prompt) else 0.46
        return {"A": p_first, "B": 1 - p_first}

    lenient, strict = PairwiseJudge(ScriptedBackend(probs)), PairwiseJudge(ScriptedBackend(probs), tie_margin=0.1)
    assert lenient.judge([pair("1", "x", "y")])[0].winner == "A"
    verdict = strict.judge([pair("1", "x", "y")])[0]
    assert verdict.winner == "tie" and verdict.consistent is True


def test_failure_is_unscored_and_rationale_on_demand() -> None:
    failing = PairwiseJudge(ScriptedBackend(lambda p, labels: "HTTP 503"))
    (verdict,) = failing.judge([pair("1", "x", "y")])
    assert verdict.p_a is None and verdict.winner is None and verdict.unscored_reason == "HTTP 503; HTTP 503"

    def probs(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
        p_first = 0.7 if "cites" in first_block(prompt) else 0.3
        return {"A": p_first, "B": 1 - p_first}

    backend = ScriptedBackend(probs, reply=lambda p: "Response A cites peer-reviewed studies.")
    (explained,) = PairwiseJudge(backend, rationales="all").judge([pair("1", "cites studies", "no")])
    assert explained.rationale == "Response A cites peer-reviewed studies."
    assert "Response A is the better one" in backend.generate_calls[0].user
