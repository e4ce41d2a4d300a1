"""Garbage is not kept as a rationale (issue 28): a judge's reply that explains nothing is written again once, then
dropped with its reason (``rationale_dropped``); the verdict stands. Reasons flow to the verdict JSON, the cache,
the verdict store, the report and the `judgerl judge` summary."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from judgerl import Rubric, Sample
from judgerl.backends.base import JudgePrompt
from judgerl.judges.cache import VerdictCache
from judgerl.judges.garbage import garbage_reason
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.report import build_report
from judgerl.samples import PairSample
from judgerl.store import VerdictStore, record_judge_run, store_path
from support.fakes import ScriptedBackend

RUBRIC = Rubric.from_dict(
    {"criteria": [{"name": "no_secrets", "text": "The response does not ask for a password.", "gate": True}]}
)
SAMPLE = Sample(id="s", prompt="Help me log in.", response="Send me your password and card number.")
GOOD = "The response does not meet the criterion because it asks for the password in its first sentence."
LOOP = "the the the the the the the the the the the the"


def fixed(p_pass: float) -> Callable[[JudgePrompt, Sequence[str]], dict[str, float]]:
    return lambda prompt, labels: {"PASS": p_pass, "FAIL": 1 - p_pass}


def replies(*texts: str) -> Callable[[JudgePrompt], str]:
    queue: Iterator[str] = iter(texts)
    return lambda prompt: next(queue)


# ---- what counts as garbage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("  \n\t ", "empty"),
        (LOOP, "one token repeated"),
        ("!" * 40, "one character repeated"),
        ("It is wrong. It is wrong. It is wrong. It is wrong. It is wrong.", "one phrase repeated"),
        ("\ufffd\ufffd\x01\x02\ufffd ok \ufffd\ufffd\x03", "mostly non-printable or replacement characters"),
        ("<|im_start|>assistant\nThe response", "the chat template echoed"),
        ("assistant\nThe response does not meet", "the chat template echoed"),
        ('{"criteria": [{"name": "no_secrets", "verdict": "FAIL"}]}', "JSON with no explanation in it"),
        ('```json\n{"verdict": "PASS", "reason": ""}\n```', "JSON with no explanation in it"),
        ("</>{}[]: --- ###", "markup, JSON or symbols with no words"),
        ("FAIL", "only a verdict label, no reason"),
        ("Verdict: FAIL.", "only a verdict label, no reason"),
        ("The response does not meet the criterion because", "only the opening, no reason"),
        ("The response asks", "cut off before a sentence"),
    ],
)
def test_garbage_is_named(text: str, reason: str) -> None:
    assert garbage_reason(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        # rationales the packaged 0.5B wrote (benchmarks/results/judge_rationales-qwen2.5-coder-0.5b.json)
        "The response does not match the reference's final answer. The reference states that the average rainfall "
        "amount in Virginia is 20 inches, while the response states it is 4 inches.",
        "The response correctly calculates the remaining money after all expenditures.",
        # cut off by the token cap after a full sentence: kept
        "The response does not meet the criterion because the reference's final answer is not the same number as "
        "the response's final answer. The reference's answer is 20 inches, while the response's answer is",
        "it does not say yes",  # no sentence end, but enough words to say something
        'It asks "what is your password?" in its first line.',
        "Die Antwort fragt nach dem Passwort.",
        "It asks for the password.<|im_end|>",  # a trailing end-of-turn token is stripped, not held against it
    ],
)
def test_real_explanations_are_kept(text: str) -> None:
    assert garbage_reason(text) is None


def test_a_closed_json_reason_is_not_cut_off_but_a_bare_label_still_is_garbage() -> None:
    assert garbage_reason("rude word", complete=True) is None and garbage_reason("rude word") is not None
    assert garbage_reason("PASS", complete=True) == "only a verdict label, no reason"


def test_the_prompt_echoed_back_is_garbage() -> None:
    judge = RubricJudge(RUBRIC, ScriptedBackend(fixed(0.1)))
    material, _ = judge.material(SAMPLE)
    from judgerl.judges.prompts import rationale_prompt

    prompt = rationale_prompt(material, RUBRIC.criteria[0], "", False)
    assert garbage_reason(prompt.user, prompt) == "the prompt echoed"
    assert garbage_reason(prompt.system[:300], prompt) == "the prompt echoed"
    assert garbage_reason("Send me your password and card number.", prompt) == "the prompt echoed"  # the response
    # the criterion restated is an argument (its stance is checked), not an echo
    assert garbage_reason("The response does not ask for a password.", prompt) is None
    assert garbage_reason(GOOD, prompt) is None


# ---- the rubric judge: one rewrite, then dropped with the reason -------------------------------------------------


def test_garbage_is_written_again_once_and_the_rewrite_kept() -> None:
    backend = ScriptedBackend(fixed(0.1), reply=replies(LOOP, GOOD))
    (verdict,) = RubricJudge(RUBRIC, backend).judge([SAMPLE])
    criterion = verdict.criteria[0]
    assert criterion.passed is False and criterion.rationale == GOOD and criterion.rationale_dropped is None
    assert criterion.rationale_consistent is True and len(backend.generate_calls) == 2
    retry = backend.generate_calls[1].user
    assert "not a usable explanation (one token repeated)" in retry and LOOP not in retry


def test_garbage_twice_is_dropped_the_verdict_stands_and_the_reason_flows(tmp_path: Path) -> None:
    backend = ScriptedBackend(fixed(0.1), reply=lambda p: "```json\n{}\n```")
    cache = VerdictCache(tmp_path / "cache.sqlite")
    (verdict,) = RubricJudge(RUBRIC, backend, cache=cache).judge([SAMPLE])
    criterion = verdict.criteria[0]
    assert verdict.score == 0.0 and verdict.gate_failed == "no_secrets"  # the verdict is kept
    assert criterion.rationale is None and criterion.rationale_dropped == "JSON with no explanation in it"
    assert criterion.rationale_consistent is None
    assert len(backend.generate_calls) == 2 and not backend.stance_calls  # once again, never more; garbage unread
    assert json.loads(verdict.model_dump_json())["criteria"][0]["rationale_dropped"] == criterion.rationale_dropped
    # cached with its reason, and not asked for again on a hit
    again_backend = ScriptedBackend(fixed(0.1), reply=lambda p: GOOD)
    (again,) = RubricJudge(RUBRIC, again_backend, cache=cache).judge([SAMPLE])
    assert again.criteria[0].cached and again.criteria[0].rationale_dropped == criterion.rationale_dropped
    assert not again_backend.generate_calls
    # the verdict store and the report
    run_dir = tmp_path / "run"
    record_judge_run(run_dir, [SAMPLE], [verdict], rubric=RUBRIC)
    with VerdictStore(store_path(run_dir)) as store:
        (stored,) = store.samples(store.runs()[0].id)
    assert stored.criteria[0].rationale is None
    assert stored.criteria[0].rationale_dropped == "JSON with no explanation in it"
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert "[rationale dropped: JSON with no explanation in it]" in html


def test_an_empty_reply_is_written_again_and_recorded_when_still_empty() -> None:
    backend = ScriptedBackend(fixed(0.1), reply=lambda p: "  ")
    (verdict,) = RubricJudge(RUBRIC, backend).judge([SAMPLE])
    assert verdict.criteria[0].rationale is None and verdict.criteria[0].rationale_dropped == "empty"
    assert len(backend.generate_calls) == 2


def test_a_contradicting_rationale_whose_rewrite_is_garbage_stays_flagged() -> None:
    claims_safe = "The response does not ask for a password or a full card number."
    backend = ScriptedBackend(fixed(0.1), reply=replies(claims_safe, LOOP))
    (verdict,) = RubricJudge(RUBRIC, backend).judge([SAMPLE])
    criterion = verdict.criteria[0]
    assert criterion.rationale == claims_safe and criterion.rationale_consistent is False
    assert criterion.rationale_dropped is None and len(backend.generate_calls) == 2


def test_a_failed_call_is_neither_garbage_nor_written_again() -> None:
    backend = ScriptedBackend(fixed(0.1), reply=lambda p: None)  # the backend errors
    (verdict,) = RubricJudge(RUBRIC, backend).judge([SAMPLE])
    assert verdict.criteria[0].rationale is None and verdict.criteria[0].rationale_dropped is None
    assert len(backend.generate_calls) == 1


def test_generate_mode_drops_a_garbage_reason_parsed_with_its_verdict() -> None:
    reply = json.dumps({"criteria": [{"name": "no_secrets", "reason": "FAIL FAIL", "verdict": "FAIL"}]})
    backend = ScriptedBackend(reply=lambda p: reply, supports_logprobs=False)
    (verdict,) = RubricJudge(RUBRIC, backend, mode="generate").judge([SAMPLE])
    criterion = verdict.criteria[0]
    assert criterion.passed is False and criterion.rationale is None
    assert criterion.rationale_dropped == "only a verdict label, no reason" and len(backend.generate_calls) == 1


def test_the_judge_summary_counts_dropped_rationales() -> None:
    from rich.console import Console

    from judgerl.cli.judge_cmd import rubric_summary

    verdicts = RubricJudge(RUBRIC, ScriptedBackend(fixed(0.1), reply=lambda p: LOOP)).judge([SAMPLE])
    console = Console(record=True, width=200)
    console.print(rubric_summary(RUBRIC, verdicts))
    assert "1 rationales dropped as garbage (rationale_dropped)" in " ".join(console.export_text().split())


# ---- pairwise ---------------------------------------------------------------------------------------------------


def test_a_garbage_pair_rationale_is_dropped_with_its_reason_and_cached(tmp_path: Path) -> None:
    def probs(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
        first_shown = prompt.user.split("## Response A\n", 1)[1].split("\n", 2)[1]
        p_first = 0.9 if "Studies" in first_shown else 0.1
        return {"A": p_first, "B": 1 - p_first}

    pair = PairSample(id="p", prompt="Is coffee healthy?", response_a="Studies say yes.", response_b="Who knows.")
    cache = VerdictCache(tmp_path / "cache.sqlite")
    backend = ScriptedBackend(probs, reply=lambda p: "<|im_start|>user\nWhich response")
    (verdict,) = PairwiseJudge(backend, rationales="all", cache=cache).judge([pair])
    assert verdict.winner == "A" and verdict.rationale is None
    assert verdict.rationale_dropped == "the chat template echoed" and len(backend.generate_calls) == 1
    again = ScriptedBackend(probs, reply=lambda p: "Response A cites studies.")
    (cached,) = PairwiseJudge(again, rationales="all", cache=cache).judge([pair])
    assert cached.rationale_dropped == "the chat template echoed" and not again.generate_calls
    run_dir = tmp_path / "run"
    record_judge_run(run_dir, [pair], [verdict])
    with VerdictStore(store_path(run_dir)) as store:
        (stored,) = store.pairs(store.runs()[0].id)
    assert stored.rationale is None and stored.rationale_dropped == "the chat template echoed"
