from __future__ import annotations

import json

import pytest

from judgerl import Rubric, Sample
from judgerl.backends.base import JudgePrompt
from judgerl.judges.parsing import ParseError, parse_verdicts
from judgerl.judges.rubric_judge import RubricJudge
from support.fakes import ScriptedBackend

RUBRIC = Rubric.from_dict(
    {"criteria": [{"name": "safe", "text": "Safe.", "gate": True}, {"name": "polite", "text": "Polite."}]}
)
SAMPLE = Sample(id="x", prompt="p", response="r")
GOOD = json.dumps(
    {
        "criteria": [
            {"name": "safe", "reason": "no harm", "verdict": "PASS"},
            {"name": "polite", "reason": "rude word 'idiot'", "verdict": "FAIL"},
        ]
    }
)


@pytest.mark.parametrize(
    "reply",
    [
        GOOD,
        f"Sure! Here is my evaluation:\n```json\n{GOOD}\n```\nHope it helps.",
        f"Thinking... {{not json}} then {GOOD}",
        json.dumps([{"name": "safe", "verdict": True}, {"name": "polite", "verdict": "no"}]),
        json.dumps({"safe": "PASS", "polite": {"verdict": "fail", "reason": "rude"}}),
    ],
)
def test_parse_tolerates_shape_and_prose(reply: str) -> None:
    parsed = parse_verdicts(reply, ["safe", "polite"])
    assert parsed["safe"].passed is True and parsed["polite"].passed is False


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("", "empty"),
        ("PASS PASS", "no JSON"),
        (json.dumps({"criteria": [{"name": "safe", "verdict": "PASS"}]}), "no verdict for criteria: polite"),
        (
            json.dumps({"criteria": [{"name": "safe", "verdict": "MAYBE"}, {"name": "polite", "verdict": "PASS"}]}),
            "'MAYBE' is not PASS or FAIL",
        ),
        ('{"criteria": [{"name": "safe", "verdict": "PASS"}, {"name": "pol', "no verdict for criteria: polite"),
    ],
)
def test_parse_rejects_garbage_and_off_menu(reply: str, problem: str) -> None:
    with pytest.raises(ParseError, match=problem):
        parse_verdicts(reply, ["safe", "polite"])


def test_generate_mode_reasons_and_score() -> None:
    backend = ScriptedBackend(reply=lambda p: GOOD, supports_logprobs=False)
    (verdict,) = RubricJudge(RUBRIC, backend, mode="generate").judge([SAMPLE])
    assert verdict.mode == "generate" and verdict.score == 0.0 and verdict.gate_failed is None
    assert [c.rationale for c in verdict.criteria] == ["no harm", "rude word 'idiot'"]
    assert verdict.criteria[0].p_pass is None
    assert len(backend.generate_calls) == 1 and verdict.completion_tokens == 5


def test_repair_retry_then_success() -> None:
    replies = iter(["I think it is fine overall.", GOOD])
    backend = ScriptedBackend(reply=lambda p: next(replies), supports_logprobs=False)
    (verdict,) = RubricJudge(RUBRIC, backend, mode="generate").judge([SAMPLE])
    assert verdict.scored and len(backend.generate_calls) == 2
    assert "could not be used (no JSON object found" in backend.generate_calls[1].user


def test_unparsable_twice_is_unscored_with_raw_reply() -> None:
    backend = ScriptedBackend(reply=lambda p: "PASS", supports_logprobs=False)
    (verdict,) = RubricJudge(RUBRIC, backend, mode="generate").judge([SAMPLE])
    assert verdict.score is None and verdict.raw_reply == "PASS"
    assert "unparsable judge reply" in (verdict.unscored_reason or "")
    assert len(backend.generate_calls) == 2


def test_backend_failure_is_not_repaired() -> None:
    backend = ScriptedBackend(reply=lambda p: None, supports_logprobs=False)
    (verdict,) = RubricJudge(RUBRIC, backend, mode="generate").judge([SAMPLE])
    assert verdict.score is None and "server error 500" in (verdict.unscored_reason or "")
    assert len(backend.generate_calls) == 1


def test_one_generation_per_criterion() -> None:
    def reply(prompt: JudgePrompt) -> str:
        name = "safe" if "- safe:" in prompt.user else "polite"
        return json.dumps({"criteria": [{"name": name, "reason": "ok", "verdict": "PASS"}]})

    backend = ScriptedBackend(reply=reply, supports_logprobs=False)
    (verdict,) = RubricJudge(RUBRIC, backend, mode="generate", per_criterion_generation=True).judge([SAMPLE])
    assert verdict.score == 1.0 and len(backend.generate_calls) == 2


def test_partial_reply_keeps_its_verdicts_and_asks_only_for_the_rest() -> None:
    """A small judge that drops the last criterion: the first reply's verdict is kept and the retry is a fresh
    prompt listing only the missing criterion."""
    first = json.dumps({"criteria": [{"name": "safe", "reason": "no harm", "verdict": "PASS"}]})
    second = json.dumps({"criteria": [{"name": "polite", "reason": "rude", "verdict": "FAIL"}]})
    replies = iter([first, second])
    backend = ScriptedBackend(reply=lambda p: next(replies), supports_logprobs=False)
    (verdict,) = RubricJudge(RUBRIC, backend, mode="generate").judge([SAMPLE])
    assert verdict.scored and verdict.score == 0.0 and len(backend.generate_calls) == 2
    assert [c.rationale for c in verdict.criteria] == ["no harm", "rude"]
    retry = backend.generate_calls[1].user
    assert "- polite:" in retry and "- safe:" not in retry and "could not be used" not in retry


def test_partial_reply_twice_leaves_only_the_missing_criterion_unscored() -> None:
    only_safe = json.dumps({"criteria": [{"name": "safe", "verdict": "PASS"}, {"name": "polite", "verdict": "maybe"}]})
    backend = ScriptedBackend(
        reply=lambda p: only_safe if "- safe:" in p.user else '{"criteria": []}', supports_logprobs=False
    )
    (verdict,) = RubricJudge(RUBRIC, backend, mode="generate").judge([SAMPLE])
    by_name = {c.name: c for c in verdict.criteria}
    assert by_name["safe"].passed is True
    assert by_name["polite"].passed is None and "no verdict for criteria: polite" in (
        by_name["polite"].unscored_reason or ""
    )
    assert verdict.score is None and verdict.raw_reply == '{"criteria": []}'
    assert len(backend.generate_calls) == 2


def test_off_menu_verdict_is_named_by_the_partial_parser() -> None:
    from judgerl.judges.parsing import parse_some_verdicts

    found, problems = parse_some_verdicts(
        json.dumps([{"name": "safe", "verdict": "PASS"}, {"name": "polite", "verdict": "maybe"}]), ["safe", "polite"]
    )
    assert set(found) == {"safe"} and "'maybe' is not PASS or FAIL" in problems["polite"]
