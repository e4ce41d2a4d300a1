"""Rationales: which verdicts get one (``none``, ``failures``, ``all`` or ``sample:<fraction>``), and the writer
that explains a verdict already decided and checks that the explanation argues for it.

In logprob mode rationales cost a generation each (10+ s on a CPU judge), so by default only failures get one.
Sampling is deterministic per (sample id, criterion) so a rerun explains the same verdicts."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from judgerl.backends.base import JudgeBackend, JudgePrompt
from judgerl.backends.label_logprobs import probability_problem
from judgerl.errors import JudgerlError
from judgerl.judges.base import Usage
from judgerl.judges.prompts import PASS, RUBRIC_LABELS, rationale_retry_prompt, stance_prompt
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
    it could not be checked: the backend gave no probabilities); ``rewritten``: it was written a second time."""

    text: str
    consistent: bool | None
    rewritten: bool = False


@dataclass
class RationaleWriter:
    """Writes rationales for verdicts already decided and checks that each argues for its verdict.

    The stance is read from the rationale's words where they decide it (a restated criterion, an opening such as
    "The response does not meet the criterion because": judgerl.judges.stance), else it is the judge's own P(PASS)
    on "does this explanation argue the criterion is met?" (one forward pass over the criterion and the
    explanation, not the response). A rationale whose stance contradicts its verdict
    is written again once, shown its first attempt; one that still contradicts is kept and flagged
    (``consistent=False``), never silently replaced."""

    backend: JudgeBackend
    max_new_tokens: int = 96

    async def explain(
        self, items: Sequence[tuple[Criterion, JudgePrompt, bool]], usage: Usage
    ) -> list[Rationale | None]:
        """One rationale per (criterion, rationale prompt, verdict), None where none could be written."""
        texts = await self._write([prompt for _, prompt, _ in items], usage)
        stances = await self._stances([(c, t) for (c, _, _), t in zip(items, texts, strict=True)], usage)
        retry = [
            i
            for i, (stance, (_, _, passed)) in enumerate(zip(stances, items, strict=True))
            if stance is not None and stance != passed
        ]
        results = [None if t is None else Rationale(t, None if s is None else s == p) for t, s, (_, _, p) in
                   zip(texts, stances, items, strict=True)]  # fmt: skip
        if not retry:
            return results
        prompts = [rationale_retry_prompt(items[i][1], texts[i] or "", items[i][2]) for i in retry]
        again = await self._write(prompts, usage)
        again_stances = await self._stances([(items[i][0], t) for i, t in zip(retry, again, strict=True)], usage)
        for i, text, stance in zip(retry, again, again_stances, strict=True):
            if text is None:
                continue  # the first text stays, flagged
            passed = items[i][2]
            results[i] = Rationale(text, None if stance is None else stance == passed, rewritten=True)
        return results

    async def _write(self, prompts: Sequence[JudgePrompt], usage: Usage) -> list[str | None]:
        if not prompts:
            return []
        replies = await self.backend.agenerate(prompts, self.max_new_tokens)
        texts: list[str | None] = []
        for reply in replies:
            usage.prompt_tokens += reply.prompt_tokens
            usage.completion_tokens += reply.completion_tokens
            text = (reply.text or "").strip() if reply.error is None else ""
            if not text:
                logger.info("no rationale: %s", reply.error or "empty reply")
            texts.append(text or None)
        return texts

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
