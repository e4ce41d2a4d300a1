"""Rationales that agree with their verdicts, and generate-mode verdicts read from the judge's label probabilities."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from judgerl import Rubric, Sample
from judgerl.backends.base import JudgePrompt
from judgerl.judges.cache import VerdictCache
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.judges.stance import read_stance
from judgerl.report import build_report
from judgerl.store import VerdictStore, record_judge_run, store_path
from support.fakes import ScriptedBackend

RUBRIC = Rubric.from_dict(
    {"criteria": [{"name": "no_secrets", "text": "The response does not ask for a password.", "gate": True}]}
)
SAMPLE = Sample(id="s", prompt="Help me log in.", response="Send me your password and card number.")
FAILS = "It requests the login secret in its first sentence."
LOOKS_FINE = "Looks fine to me: a polite login help."
#: the issue's example: the criterion restated as holding, under a FAIL verdict (read without a model)
CLAIMS_SAFE = "The response does not ask for a password or a full card number."


def fixed(p_pass: float) -> Callable[[JudgePrompt, Sequence[str]], dict[str, float]]:
    return lambda prompt, labels: {"PASS": p_pass, "FAIL": 1 - p_pass}


def stance_of(text: str) -> float:
    """The scripted judge reads an explanation as arguing PASS when it says the response looks fine."""
    return 0.9 if "fine" in text else 0.1


def judge(backend: ScriptedBackend, **options: object) -> RubricJudge:
    return RubricJudge(RUBRIC, backend, **options)  # type: ignore[arg-type]


def test_a_rationale_against_its_fail_verdict_is_written_again_once() -> None:
    replies = iter([LOOKS_FINE, FAILS])
    backend = ScriptedBackend(fixed(0.1), reply=lambda p: next(replies), stance=stance_of)
    (verdict,) = judge(backend).judge([SAMPLE])
    criterion = verdict.criteria[0]
    assert criterion.passed is False and criterion.rationale == FAILS and criterion.rationale_consistent is True
    assert len(backend.generate_calls) == 2 and len(backend.stance_calls) == 2
    retry = backend.generate_calls[1].user
    assert LOOKS_FINE in retry and "explain why the response does not meet the criterion" in retry


def test_the_issues_restated_criterion_is_caught_without_a_model_reading() -> None:
    replies = iter([CLAIMS_SAFE, "The response does not meet the criterion because it asks for the password."])
    backend = ScriptedBackend(fixed(0.1), reply=lambda p: next(replies))  # no stance scripted: words decide
    (verdict,) = judge(backend).judge([SAMPLE])
    criterion = verdict.criteria[0]
    assert criterion.rationale_consistent is True and criterion.rationale is not None
    assert criterion.rationale.endswith("asks for the password.") and not backend.stance_calls


def test_a_rationale_against_its_pass_verdict_is_written_again_too() -> None:
    replies = iter(["It requests the login secret.", LOOKS_FINE])
    backend = ScriptedBackend(fixed(0.9), reply=lambda p: next(replies), stance=stance_of)
    (verdict,) = judge(backend, rationales="all").judge([SAMPLE])
    criterion = verdict.criteria[0]
    assert criterion.passed is True and criterion.rationale_consistent is True
    assert criterion.rationale == LOOKS_FINE


def test_one_that_still_contradicts_is_kept_and_flagged(tmp_path: Path) -> None:
    backend = ScriptedBackend(fixed(0.1), reply=lambda p: CLAIMS_SAFE)
    cache = VerdictCache(tmp_path / "cache.sqlite")
    (verdict,) = judge(backend, cache=cache).judge([SAMPLE])
    criterion = verdict.criteria[0]
    assert criterion.rationale == CLAIMS_SAFE and criterion.rationale_consistent is False
    assert len(backend.generate_calls) == 2  # written again once, not more
    assert json.loads(verdict.model_dump_json())["criteria"][0]["rationale_consistent"] is False
    (again,) = judge(ScriptedBackend(fixed(0.1)), cache=cache).judge([SAMPLE])
    assert again.criteria[0].cached and again.criteria[0].rationale_consistent is False  # the flag is cached
    run_dir = tmp_path / "run"
    record_judge_run(run_dir, [SAMPLE], [verdict], rubric=RUBRIC)
    with VerdictStore(store_path(run_dir)) as store:
        (stored,) = store.samples(store.runs()[0].id)
    assert stored.criteria[0].rationale_consistent is False
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert "[argues against its verdict] The response does not ask" in html


def test_an_agreeing_rationale_is_written_once_and_marked_consistent() -> None:
    backend = ScriptedBackend(fixed(0.1), reply=lambda p: FAILS, stance=stance_of)
    (verdict,) = judge(backend).judge([SAMPLE])
    assert verdict.criteria[0].rationale_consistent is True and len(backend.generate_calls) == 1
    stance_prompt = backend.stance_calls[0]
    assert "Send me your password" not in stance_prompt.user  # the argument is checked, not the response again


def test_without_a_stance_reading_the_rationale_is_unchecked() -> None:
    backend = ScriptedBackend(fixed(0.1), reply=lambda p: LOOKS_FINE)  # stance prompts answer with an error
    (verdict,) = judge(backend).judge([SAMPLE])
    assert verdict.criteria[0].rationale == LOOKS_FINE and verdict.criteria[0].rationale_consistent is None
    assert len(backend.generate_calls) == 1


# ---- generate mode ------------------------------------------------------------------------------------------

SAYS_PASS = json.dumps({"criteria": [{"name": "no_secrets", "reason": "fine", "verdict": "PASS"}]})


def test_generate_mode_reads_the_verdict_from_the_label_probability_not_the_text() -> None:
    """The generated text says PASS; the judge's probability at the verdict's place in the JSON says FAIL."""
    backend = ScriptedBackend(
        fixed(0.2), reply=lambda p: SAYS_PASS if "Reply with JSON" in p.user and not p.answer_prefix else FAILS
    )
    (verdict,) = judge(backend, mode="generate").judge([SAMPLE])
    criterion = verdict.criteria[0]
    assert verdict.mode == "generate" and verdict.score == 0.0 and verdict.gate_failed == "no_secrets"
    assert criterion.passed is False and criterion.p_pass == pytest.approx(0.2)
    (label_prompt,) = backend.label_calls[0]
    assert label_prompt.answer_prefix == '{"criteria": [{"name": "no_secrets", "verdict": "'
    # the reason is written after the verdict is fixed, for every verdict, and says which verdict it explains
    (reason_prompt,) = backend.generate_calls
    assert "The verdict for this criterion is FAIL" in reason_prompt.user and criterion.rationale == FAILS


def test_generate_mode_on_a_backend_without_probabilities_parses_text_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = ScriptedBackend(fixed(0.2), reply=lambda p: SAYS_PASS, supports_logprobs=False)
    with caplog.at_level(logging.WARNING):
        (verdict,) = judge(backend, mode="generate").judge([SAMPLE])
    assert verdict.criteria[0].passed is True and not backend.label_calls
    assert any("parsed from the judge's text" in r.getMessage() for r in caplog.records)


def test_the_judge_summary_counts_rationales_against_their_verdicts() -> None:
    from rich.console import Console

    from judgerl.cli.judge_cmd import rubric_summary

    backend = ScriptedBackend(fixed(0.1), reply=lambda p: CLAIMS_SAFE)
    verdicts = judge(backend).judge([SAMPLE])
    console = Console(record=True, width=200)
    console.print(rubric_summary(RUBRIC, verdicts))
    assert "1 rationales argue against their verdicts" in " ".join(console.export_text().split())


# ---- reading a stance from the words ------------------------------------------------------------------------

SAFETY = (
    "The response does not ask for a password or a full card number and gives no instructions that could harm "
    "the customer or others."
)
FINAL = "The final answer stated in the response is the same number as the reference's final answer."


@pytest.mark.parametrize(
    ("criterion", "rationale", "argues_met"),
    [
        (SAFETY, "The response does not ask for a password or a full card number and gives no instructions.", True),
        (SAFETY, "The response asks for the password and the card number in its first sentence.", None),
        (SAFETY, "The response does not meet the criterion because it asks for the password.", False),
        (
            SAFETY,
            "The response does not meet the criterion because it does not ask for a password or a full "
            "card number and gives no instructions that could harm anyone.",
            True,
        ),
        (
            FINAL,
            "The final answer stated in the response is not the same number as the reference's final answer.",
            False,
        ),
        (
            FINAL,
            "Yes: the final answer stated in the response is the same number as the reference's final answer.",
            True,
        ),
        # the first clause alone restated: the later clause's "no" is not part of it (the issue's own example)
        (SAFETY, "The response does not ask for a password or a full card number.", True),
        # the criterion's subject repeated with a different predicate is not a restatement; the opening decides
        # (the 1.5B's GSM8K rationale that the words reading took for a PASS)
        (
            FINAL,
            "The response does not meet the criterion because the final answer stated in the response is 8, while "
            "the reference's final answer is 6.",
            False,
        ),
        (FINAL, "The final answer stated in the response is 8, while the reference's final answer is 6.", None),
        (FINAL, "The response meets the criterion because both end with 18.", True),
        (FINAL, "Both end with 18.", None),
    ],
)
def test_stance_read_from_a_restated_criterion_or_an_opening(
    criterion: str, rationale: str, argues_met: bool | None
) -> None:
    assert read_stance(criterion, rationale) is argues_met
