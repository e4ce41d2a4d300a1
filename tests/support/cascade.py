"""Scripted stage backends for cascade tests, constructed by name ('support.cascade:StageBackend') like a user's.

The weak judge is sure only about responses that say "clear" (P(PASS) 0.95) and unsure about the rest (0.52);
"broken" makes it fail. The strong judge fails responses that say "bad" (0.1) and passes the others (0.9). Pairs:
the weak judge prefers whichever response is shown first (a position bias: its two orders disagree) unless A says
"clear"; the strong judge prefers the response without "bad"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from judgerl.backends.base import JudgePrompt
from support.fakes import ScriptedBackend, response_of


def _rubric_p(model: str, response: str) -> dict[str, float] | str:
    if model == "weak":
        if "broken" in response:
            return "weak judge failed"
        p = 0.95 if "clear" in response else 0.52
    else:
        p = 0.1 if "bad" in response else 0.9
    return {"PASS": p, "FAIL": 1 - p}


def _pair_p(model: str, prompt: JudgePrompt) -> dict[str, float]:
    first = prompt.user.split("## Response A", 1)[1].split("## Response B", 1)[0]
    second = prompt.user.split("## Response B", 1)[1]
    if model == "weak":
        p_first = 0.95 if "clear" in first else 0.05 if "clear" in second else 0.8
    else:
        p_first = 0.1 if "bad" in first else 0.9
    return {"A": p_first, "B": 1 - p_first}


class StageBackend(ScriptedBackend):
    """A weak or strong scripted judge by model name; counts the items each model saw."""

    name = "stage-scripted"
    calls: ClassVar[Counter[str]] = Counter()

    def __init__(self, model: str = "weak", **_: Any) -> None:
        super().__init__(model_id=model)
        self._probs = self._script

    def _script(self, prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float] | str:
        StageBackend.calls[self.model_id] += 1
        if "A" in labels:
            return _pair_p(self.model_id, prompt)
        return _rubric_p(self.model_id, response_of(prompt))


WEAK_THEN_STRONG: list[dict[str, Any]] = [
    {"backend": "support.cascade:StageBackend", "model": "weak", "rationales": "none", "margin": 0.1},
    {"backend": "support.cascade:StageBackend", "model": "strong", "rationales": "none"},
]
