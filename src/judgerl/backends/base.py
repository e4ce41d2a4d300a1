"""The backend seam: everything a judge needs from a model is label probabilities and text generation.

Judges build prompts and parse replies; backends only run models. A backend returns one result per prompt,
in order, and reports a per-prompt failure as ``error`` (the judge turns it into an unscored verdict) rather
than raising. It raises only for a set-up mistake (a missing model, a bad option), as a JudgerlError.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from judgerl.backends.resilience import CallStatsReport


@dataclass(frozen=True)
class JudgePrompt:
    """A judge prompt: a system and a user message, and the text the judge's answer starts with.

    Backends that can prefill the answer (in-process models) append ``answer_prefix`` after the chat
    template's assistant header, so the next token is the verdict; remote backends ask for the label as the
    first token instead. Prompts passed together in one call that share a prefix (one sample's criteria)
    let a backend compute that prefix once."""

    system: str
    user: str
    answer_prefix: str = ""


@dataclass(frozen=True)
class LabelResult:
    """Probabilities of each label as the judge's next answer token, normalised over the labels.

    ``mass`` is the total probability the model put on the labels before normalising: a low mass means
    the judge wanted to say something else, which callers may treat as an unreliable verdict."""

    probs: dict[str, float] | None
    mass: float = 1.0
    prompt_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    completion_tokens: int = 0  # last, so positional construction stays as it was


@dataclass(frozen=True)
class Generation:
    """A generated reply, or the error that prevented it."""

    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None


class JudgeBackend(ABC):
    """A judge model. Subclasses implement ``label_probs`` and ``generate``; async variants default to a
    worker thread so judges can fan out over remote backends without blocking."""

    #: name under which the backend is registered (``--backend``)
    name: str = "base"
    #: whether ``label_probs`` reads real token probabilities
    supports_logprobs: bool = True
    #: whether ``label_probs_with_hidden`` returns the model's hidden state at the verdict position (the probe)
    supports_hidden_states: bool = False

    def __init__(self, model_id: str, max_input_tokens: int = 4096) -> None:
        self.model_id = model_id
        self.max_input_tokens = max_input_tokens

    @property
    def cache_identity(self) -> str:
        """What a cached verdict of this backend is keyed by: the model, and whatever else changes its verdicts
        (a local model's dtype). Remote backends are named by their model id alone."""
        return self.model_id

    def count_tokens(self, text: str) -> int:
        """Token count used to budget long responses; a rough estimate unless the backend has a tokenizer."""
        return len(text) // 4 + 1

    @abstractmethod
    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        """For each prompt, the probability of each label as the first token of the answer."""

    @abstractmethod
    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        """For each prompt, the judge's reply (greedy, deterministic where the backend allows)."""

    def label_probs_with_hidden(
        self, prompts: Sequence[JudgePrompt], labels: Sequence[str]
    ) -> list[tuple[LabelResult, list[float] | None]]:
        """``label_probs`` and, from the same forward pass, the last layer's hidden state at the position whose
        next token is the verdict. Only backends that run the model in-process can; the others raise."""
        from judgerl.errors import JudgerlError

        raise JudgerlError(
            f"backend '{self.name}' does not expose hidden states, which the probe strategy needs; "
            "use --backend transformers or leave the probe out"
        )

    async def alabel_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        return await asyncio.to_thread(self.label_probs, prompts, labels)

    async def agenerate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        return await asyncio.to_thread(self.generate, prompts, max_new_tokens)

    def check(self) -> None:
        """Probe the model or server once; raise BackendUnavailable with a one-line reason when it cannot serve
        (unreachable server, rejected key, unknown model). Local backends fail when built, so this does nothing."""

    def call_stats(self) -> CallStatsReport | None:
        """Requests, retries, failures and latencies of a remote backend; None for local ones."""
        return None

    def close(self) -> None:
        """Release models, connections or threads."""
