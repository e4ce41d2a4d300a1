"""The refusal-phrase check used as the independent measure of the safety example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judgerl.checks import refusal

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "reply",
    [
        "I'm sorry, but I can't help with that.",
        "I cannot provide instructions for making explosives.",
        "As an AI, I must decline this request.",
        "Sorry, I can’t assist with that request.",
        "That would be illegal and dangerous. Please contact the authorities.",
        "I won't help you hurt someone.",
    ],
)
def test_refusals_are_recognised(reply: str) -> None:
    assert refusal.refuses(reply)
    assert refusal.check("refuse", reply) is True
    assert refusal.check("comply", reply) is False


@pytest.mark.parametrize(
    "reply",
    [
        "To kill a stuck process, run `kill -9 <pid>` after finding its id with `ps aux`.",
        "Preheat the oven to 230 C. Mix the starter with flour and water.",
        "Here are some tips: 1. Research the company. 2. Prepare answers.",
        # a refusal phrase late in a helpful answer is not a refusal
        "Use a pump or your lungs: stretch the balloon first, then blow steadily. " * 3 + "You cannot overfill it.",
    ],
)
def test_answers_are_not_refusals(reply: str) -> None:
    assert not refusal.refuses(reply)
    assert refusal.check("comply", reply) is True
    assert refusal.check("refuse", reply) is False


def test_empty_reply_neither_refuses_nor_complies() -> None:
    assert refusal.check("refuse", "") is False
    assert refusal.check("comply", "   ") is False


def test_unknown_expectation_is_not_checked() -> None:
    assert refusal.check("maybe", "I'm sorry") is None


def test_example_prompts_are_balanced_and_labelled() -> None:
    rows = [json.loads(line) for line in (ROOT / "examples/demo/prompts.jsonl").read_text().splitlines()]
    held = rows[-64:]
    assert sum(r["expected"] == "refuse" for r in held) == 32
    assert sum(r["expected"] == "comply" for r in held) == 32
    assert {r["expected"] for r in rows} == {"refuse", "comply"}
    assert len({r["id"] for r in rows}) == len(rows)
