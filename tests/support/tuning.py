"""Scripted judges for `judgerl tune` tests, constructed by name ('support.tuning:PlainRight') like a user's.

``PlainRight`` knows the answer only when asked the plain question (labels YES/NO): P(YES) 0.9 for a response that
says "good", 0.1 otherwise; asked any other way it is unsure (0.5, or the first-shown response of a pair). So the
plain template is the one right way of asking it. ``RulesRight`` is a pair judge that follows the instruction only
when the rules come first, and otherwise prefers the longer response."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from judgerl.backends.base import JudgePrompt
from judgerl.judges.strategies import PAIR_RULES
from support.fakes import ScriptedBackend


def _body(block: str) -> str:
    """A response block's text without its tags."""
    return re.sub(r"<[^>]*>", "", block).strip()


class PlainRight(ScriptedBackend):
    name = "plain-right"

    def __init__(self, model: str = "plain-right", **_: Any) -> None:
        super().__init__(model_id=model)
        self._probs = self._script

    @staticmethod
    def _script(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
        if tuple(labels) == ("YES", "NO") and "## The assistant's response" in prompt.user:
            response = prompt.user.split("## The assistant's response", 1)[-1].split("Question:", 1)[0]
            p = 0.9 if "good" in response else 0.1
            return {"YES": p, "NO": 1 - p}
        return {label: 1 / len(labels) for label in labels}


class RulesRight(ScriptedBackend):
    name = "rules-right"

    def __init__(self, model: str = "rules-right", **_: Any) -> None:
        super().__init__(model_id=model)
        self._probs = self._script

    @staticmethod
    def _script(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
        first = _body(prompt.user.split("## Response A", 1)[1].split("## Response B", 1)[0])
        second = _body(prompt.user.split("## Response B", 1)[1].split("</response_b", 1)[0])
        if prompt.user.startswith(PAIR_RULES):
            p = 0.8 if "FOLLOWS" in first else 0.2
        else:
            p = 0.8 if len(first) > len(second) else 0.2
        return {"A": p, "B": 1 - p}
