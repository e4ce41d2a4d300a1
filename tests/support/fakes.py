"""A scripted judge backend: the one seam tests fake. Rules map text in a prompt to label probabilities."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from judgerl.backends.base import Generation, JudgeBackend, JudgePrompt, LabelResult


class ScriptedBackend(JudgeBackend):
    """``probs(prompt, labels) -> dict | str`` (a str is a per-prompt error); ``reply(prompt) -> str``."""

    name = "scripted"

    def __init__(
        self,
        probs: Callable[[JudgePrompt, Sequence[str]], dict[str, float] | str] | None = None,
        reply: Callable[[JudgePrompt], str | None] | None = None,
        model_id: str = "scripted-judge",
        max_input_tokens: int = 4096,
        supports_logprobs: bool = True,
        stance: Callable[[str], float | None] | None = None,
    ) -> None:
        super().__init__(model_id=model_id, max_input_tokens=max_input_tokens)
        self._probs = probs or (lambda prompt, labels: {label: 1 / len(labels) for label in labels})
        self._reply = reply or (lambda prompt: "ok")
        self._stance = stance
        self.supports_logprobs = supports_logprobs
        self.label_calls: list[list[JudgePrompt]] = []
        self.stance_calls: list[JudgePrompt] = []
        self.generate_calls: list[JudgePrompt] = []
        self.generate_limits: list[int] = []  # max_new_tokens of each generate call

    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        """Rationale stance checks (judgerl.judges.rationales) go to ``stance(rationale) -> P(argues PASS)``, kept
        apart from ``label_calls``; without ``stance`` they are left unchecked (an error)."""
        verdict_prompts = [p for p in prompts if not is_stance_prompt(p)]
        if verdict_prompts:
            self.label_calls.append(verdict_prompts)
        results = []
        for prompt in prompts:
            if is_stance_prompt(prompt):
                self.stance_calls.append(prompt)
                p_pass = self._stance(explanation_of(prompt)) if self._stance is not None else None
                results.append(
                    LabelResult(probs={"PASS": p_pass, "FAIL": 1 - p_pass})
                    if p_pass is not None
                    else LabelResult(probs=None, error="no stance scripted")
                )
                continue
            outcome = self._probs(prompt, labels)
            if isinstance(outcome, str):
                results.append(LabelResult(probs=None, error=outcome))
            else:
                results.append(LabelResult(probs=outcome, prompt_tokens=self.count_tokens(prompt.user)))
        return results

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        self.generate_limits.append(max_new_tokens)
        out = []
        for prompt in prompts:
            self.generate_calls.append(prompt)
            text = self._reply(prompt)
            if text is None:
                out.append(Generation(text=None, error="server error 500"))
            else:
                out.append(Generation(text=text, prompt_tokens=10, completion_tokens=5))
        return out


def criterion_of(prompt: JudgePrompt) -> str:
    """The criterion text of a rubric logprob/rationale prompt."""
    return prompt.user.split("## Criterion\n", 1)[1].split("\n\n", 1)[0]


def response_of(prompt: JudgePrompt) -> str:
    """The response block's body."""
    body = prompt.user.split("## The assistant's response\n", 1)[1]
    return body.split("\n", 1)[1].rsplit("\n</response", 1)[0]


class FakeClock:
    """Virtual time for resilience tests: sleeping advances the clock at once and records the wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def is_stance_prompt(prompt: JudgePrompt) -> bool:
    return "\n## Explanation\n" in prompt.user and "Does this explanation argue" in prompt.user


def explanation_of(prompt: JudgePrompt) -> str:
    """The rationale quoted in a stance-check prompt."""
    body = prompt.user.split("## Explanation\n", 1)[1]
    return body.split("\n", 1)[1].rsplit("\n</explanation", 1)[0]
