"""Rationales: which verdicts get one (``none``, ``failures``, ``all`` or ``sample:<fraction>``), and the writer
that explains a verdict already decided and checks that the explanation argues for it.

In logprob mode rationales cost a generation each (10+ s on a CPU judge), so by default only failures get one.
Sampling is deterministic per (sample id, criterion) so a rerun explains the same verdicts."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from judgerl.backends.base import Generation, JudgeBackend, JudgePrompt
from judgerl.backends.label_logprobs import probability_problem
from judgerl.errors import JudgerlError
from judgerl.judges.base import Usage
from judgerl.judges.garbage import garbage_reason, strip_end_markers
from judgerl.judges.prompts import (
    PASS,
    RUBRIC_LABELS,
    rationale_garbage_retry_prompt,
    rationale_retry_prompt,
    stance_prompt,
)
from judgerl.judges.stance import read_stance
from judgerl.rubric import Criterion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RationalePolicy:
    kind: str = "failures"
    fraction: float = 0.0

    @classmethod
    def parse(cls, text: str | RationalePolicy) -> RationalePolicy:
        if isinstance(text, RationalePolicy):
            return text
        value = text.strip().lower()
        if value in {"none", "failures", "all"}:
            return cls(kind=value)
        if value.startswith("sample:"):
            try:
                fraction = float(value.split(":", 1)[1])
            except ValueError:
                fraction = -1.0
            if 0.0 <= fraction <= 1.0:
                return cls(kind="sample", fraction=fraction)
        raise JudgerlError(f"rationales: '{text}' is not one of none, failures, all, sample:<fraction in 0..1>")

    def wants(self, sample_id: str, criterion: str, passed: bool | None) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "failures":
            return passed is False
        if self.kind == "sample":
            digest = hashlib.sha256(f"{sample_id}\x1f{criterion}".encode()).digest()
            return int.from_bytes(digest[:8], "big") / 2**64 < self.fraction
        return False

    def __str__(self) -> str:
        return f"sample:{self.fraction}" if self.kind == "sample" else self.kind


@dataclass(frozen=True)
class Rationale:
    """A rationale for a decided verdict. ``consistent``: whether its stance agrees with the verdict (None when
    it could not be checked: the backend gave no probabilities); ``rewritten``: it was written a second time.
    ``dropped``: why the judge's text was garbage (judgerl.judges.garbage) and not kept; ``text`` is then None."""

    text: str | None
    consistent: bool | None
    rewritten: bool = False
    dropped: str | None = None


@dataclass
class RationaleWriter:
    """Writes rationales for verdicts already decided and checks that each argues for its verdict.

    A reply that is garbage (empty, a loop, unreadable characters, markup or a bare label, the prompt echoed, cut
    off before a sentence: judgerl.judges.garbage) is no rationale. The stance is read from the rationale's words
    where they decide it (a restated criterion, an opening such as "The response does not meet the criterion
    because": judgerl.judges.stance), else it is the judge's own P(PASS) on "does this explanation argue the
    criterion is met?" (one forward pass over the criterion and the explanation, not the response). A rationale
    that is garbage, or whose stance contradicts its verdict, is written again once (never more). One that still
    contradicts is kept and flagged (``consistent=False``), never silently replaced; one that is still garbage is
    dropped with its reason (``dropped``), and the verdict stands without a rationale."""

    backend: JudgeBackend
    max_new_tokens: int = 96

    async def explain(
        self, items: Sequence[tuple[Criterion, JudgePrompt, bool]], usage: Usage
    ) -> list[Rationale | None]:
        """One rationale per (criterion, rationale prompt, verdict), None where the judge's call failed."""
        prompts = [prompt for _, prompt, _ in items]
        texts, problems = await self._write(prompts, usage)
        stances = await self._stances([(c, t) for (c, _, _), t in zip(items, texts, strict=True)], usage)
        results: list[Rationale | None] = []
        retry: list[tuple[int, JudgePrompt]] = []
        for i, (text, problem, stance, (_, prompt, passed)) in enumerate(
            zip(texts, problems, stances, items, strict=True)
        ):
            if problem is not None:
                results.append(Rationale(None, None, dropped=problem))
                retry.append((i, rationale_garbage_retry_prompt(prompt, problem, passed)))
            elif text is None:
                results.append(None)
            else:
                results.append(Rationale(text, None if stance is None else stance == passed))
                if stance is not None and stance != passed:
                    retry.append((i, rationale_retry_prompt(prompt, text, passed)))
        if not retry:
            return results
        again, again_problems = await self._write([p for _, p in retry], usage)
        again_stances = await self._stances([(items[i][0], t) for (i, _), t in zip(retry, again, strict=True)], usage)
        for (i, _), text, problem, stance in zip(retry, again, again_problems, again_stances, strict=True):
            if text is None:
                first = results[i]
                if problem is not None and first is not None and first.text is None:
                    results[i] = Rationale(None, None, rewritten=True, dropped=problem)
                continue  # garbage or no reply again: a flagged first text stays, a dropped one stays dropped
            passed = items[i][2]
            results[i] = Rationale(text, None if stance is None else stance == passed, rewritten=True)
        return results

    async def _write(self, prompts: Sequence[JudgePrompt], usage: Usage) -> tuple[list[str | None], list[str | None]]:
        """Each reply's text (None where there is none to keep) and why it is garbage (None where it is not, or
        where the call failed)."""
        if not prompts:
            return [], []
        replies = await self.backend.agenerate(prompts, self.max_new_tokens)
        for reply in replies:
            usage.prompt_tokens += reply.prompt_tokens
            usage.completion_tokens += reply.completion_tokens
        # linear in the replies and their prompts: off the event loop, like the rest of the judging path
        checked = await asyncio.to_thread(
            lambda: [_checked(reply, prompt) for reply, prompt in zip(replies, prompts, strict=True)]
        )
        return [text for text, _ in checked], [problem for _, problem in checked]

    async def _stances(self, items: Sequence[tuple[Criterion, str | None]], usage: Usage) -> list[bool | None]:
        """Whether each rationale argues the criterion is met: read from its words where they decide it
        (judgerl.judges.stance), else from the judge's P(PASS); None without a rationale or a usable reading."""
        stances: list[bool | None] = [None if t is None else read_stance(c.text, t) for c, t in items]
        asked = [
            (i, stance_prompt(c, text)) for i, (c, text) in enumerate(items) if text is not None and stances[i] is None
        ]
        if not asked or not self.backend.supports_logprobs:
            return stances
        results = await self.backend.alabel_probs([p for _, p in asked], RUBRIC_LABELS)
        for (i, _), result in zip(asked, results, strict=True):
            usage.prompt_tokens += result.prompt_tokens
            usage.completion_tokens += result.completion_tokens
            if result.error is None and probability_problem(result.probs, RUBRIC_LABELS) is None and result.probs:
                stances[i] = result.probs[PASS] >= 0.5
        return stances


def _checked(reply: Generation, prompt: JudgePrompt) -> tuple[str | None, str | None]:
    """(text to keep, None) for a usable reply, (None, why) for garbage, (None, None) for a failed call."""
    if reply.error is not None:
        logger.info("no rationale: %s", reply.error)
        return None, None
    problem = garbage_reason(reply.text, prompt)
    if problem is not None:
        logger.info("rationale dropped (%s): %r", problem, (reply.text or "")[:120])
        return None, problem
    return strip_end_markers(reply.text or ""), None
