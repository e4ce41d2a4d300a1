"""PairwiseJudge: compares responses A and B in both orders and averages P(A better).

Small judges pick the first-shown response almost regardless of content (the packaged Qwen-0.5B answered "A"
in both orders for every LLMBar pair), so a single order is not a preference. Here the order-averaged
probability is the soft preference, a winner is called only when both orders agree and the margin is clear,
and the share of order-consistent pairs is counted so a user sees a position-biased judge for what it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from judgerl.backends.base import JudgeBackend
from judgerl.backends.label_logprobs import probability_problem
from judgerl.errors import JudgerlError
from judgerl.judges.base import Judge, Usage
from judgerl.judges.budget import Budget
from judgerl.judges.cache import VerdictCache, cache_key
from judgerl.judges.garbage import garbage_reason, strip_end_markers
from judgerl.judges.prompts import PAIR_LABELS, TEMPLATE_VERSION, pair_prompt, pair_rationale_prompt, truncate_middle
from judgerl.judges.rationales import RationalePolicy
from judgerl.judges.strategies import Strategy, pair_p_first, strategy_identity
from judgerl.samples import PairSample, prompt_text
from judgerl.verdicts import PairVerdict

logger = logging.getLogger(__name__)


class PairwiseJudge(Judge[PairSample, PairVerdict]):
    """Judges PairSamples. ``tie_margin``: |P(A better) - 0.5| below this is a tie even when both orders agree."""

    item_noun = "pair"
    backend: JudgeBackend

    def __init__(
        self,
        backend: JudgeBackend,
        *,
        instructions: str = "",
        tie_margin: float = 0.0,
        rationales: str | RationalePolicy = "none",
        cache: VerdictCache | None = None,
        rationale_tokens: int = 96,
        concurrency: int = 4,
        budget: Budget | None = None,
        strategy: Strategy | None = None,
    ) -> None:
        if not backend.supports_logprobs:
            raise JudgerlError(f"pairwise judging needs token probabilities, which backend '{backend.name}' lacks")
        if not 0.0 <= tie_margin < 0.5:
            raise JudgerlError(f"tie_margin: {tie_margin} must be in [0, 0.5)")
        self._setup(backend, concurrency, budget)
        self.instructions = instructions
        self.tie_margin = tie_margin
        self.rationales = RationalePolicy.parse(rationales)
        self.cache = cache
        self.rationale_tokens = rationale_tokens
        #: the tuned way of asking (judgerl tune); None: the plain order-averaged log-prob verdict
        self.strategy = strategy if strategy is not None and not strategy.is_plain else None

    def _unscored(self, item: PairSample, reason: str, usage: Usage | None) -> PairVerdict:
        return PairVerdict(
            id=item.id,
            p_a=None,
            winner=None,
            judge_model=self.backend.model_id,
            unscored_reason=reason,
            **Usage.fields(usage),
        )

    def winner(self, p_first: float, p_second: float) -> tuple[str, bool]:
        """(winner, consistent) from P(A better) in each order."""
        consistent = (p_first > 0.5) == (p_second > 0.5) and p_first != 0.5 and p_second != 0.5
        p_a = (p_first + p_second) / 2
        if not consistent or abs(p_a - 0.5) <= self.tie_margin:
            return "tie", consistent
        return ("A" if p_a > 0.5 else "B"), consistent

    def texts(self, pair: PairSample) -> tuple[str, str, str, bool]:
        """(task, response A, response B, truncated): cut to fit the judge's input budget."""
        count = self.backend.count_tokens
        budget = max(512, self.backend.max_input_tokens - 400)
        prompt, cut_prompt = truncate_middle(prompt_text(pair.prompt), budget // 4, count)
        room = max(128, (budget - count(prompt)) // 2)
        response_a, cut_a = truncate_middle(pair.response_a, room, count)
        response_b, cut_b = truncate_middle(pair.response_b, room, count)
        return prompt, response_a, response_b, cut_prompt or cut_a or cut_b

    def _prepare(self, pair: PairSample) -> tuple[str, str, str, bool, str, dict[str, Any] | None]:
        """Truncated texts, the cache key and any hit: work that grows with the input, run off the loop."""
        prompt, response_a, response_b, truncated = self.texts(pair)
        key = cache_key(
            self.backend.cache_identity,
            TEMPLATE_VERSION,
            "pair" if self.strategy is None else f"pair-tuned:{strategy_identity(self.strategy)}",
            self.instructions,
            prompt,
            response_a,
            response_b,
            pair.reference,
        )
        hit = self.cache.get(key) if self.cache is not None else None
        return prompt, response_a, response_b, truncated, key, hit

    async def _judge_item(self, pair: PairSample, usage: Usage) -> PairVerdict:
        started = time.perf_counter()
        prompt, response_a, response_b, truncated, key, hit = await asyncio.to_thread(self._prepare, pair)
        reference, instructions = pair.reference, self.instructions
        first, second = await asyncio.to_thread(  # neutralising is linear in the texts: off the loop
            lambda: (
                pair_prompt(prompt, response_a, response_b, reference, instructions),
                pair_prompt(prompt, response_b, response_a, reference, instructions),
            )
        )
        prompt_tokens = completion_tokens = 0
        common = {"id": pair.id, "judge_model": self.backend.model_id, "truncated": truncated}
        dropped: str | None = None
        if hit is not None:
            p_first, p_second, rationale = hit["p_first"], hit["p_second"], hit.get("rationale")
            dropped = hit.get("rationale_dropped")
        elif self.strategy is not None:
            reading, first_p, second_p = await pair_p_first(
                self.backend, self.strategy, prompt, response_a, response_b, pair.reference, self.instructions
            )
            prompt_tokens, completion_tokens = reading.prompt_tokens, reading.completion_tokens
            usage.prompt_tokens, usage.completion_tokens = prompt_tokens, completion_tokens
            if reading.p is None or first_p is None or second_p is None:
                return PairVerdict(
                    p_a=None,
                    winner=None,
                    unscored_reason=reading.error or "no verdict",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    latency_s=time.perf_counter() - started,
                    **common,
                )
            # the tuned probability is the preference: both orders move by the same amount, so they average to it
            shift = reading.p - (first_p + second_p) / 2
            p_first, p_second, rationale = _clip(first_p + shift), _clip(second_p + shift), None
        else:
            results = await self.backend.alabel_probs([first, second], PAIR_LABELS)
            prompt_tokens = sum(r.prompt_tokens for r in results)
            completion_tokens = sum(r.completion_tokens for r in results)
            usage.prompt_tokens, usage.completion_tokens = prompt_tokens, completion_tokens
            problems = [r.error or probability_problem(r.probs, PAIR_LABELS) for r in results]
            failed = [problem for problem in problems if problem is not None]
            if failed:
                return PairVerdict(
                    p_a=None,
                    winner=None,
                    unscored_reason="; ".join(failed),
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    latency_s=time.perf_counter() - started,
                    **common,
                )
            assert results[0].probs is not None and results[1].probs is not None
            # Order 1 shows A first (label "A" = response A); order 2 shows B first (label "B" = response A).
            p_first, p_second, rationale = results[0].probs["A"], results[1].probs["B"], None
        winner, consistent = self.winner(p_first, p_second)
        wanted = rationale is None and dropped is None and winner != "tie"
        if wanted and self.rationales.wants(pair.id, "preference", None):
            asked = pair_rationale_prompt(first, winner)
            (reply,) = await self.backend.agenerate([asked], self.rationale_tokens)
            prompt_tokens += reply.prompt_tokens
            completion_tokens += reply.completion_tokens
            usage.prompt_tokens, usage.completion_tokens = prompt_tokens, completion_tokens
            if reply.error is None:  # garbage is dropped with its reason (judgerl.judges.garbage); no rewrite here
                dropped = await asyncio.to_thread(garbage_reason, reply.text, asked)
                rationale = None if dropped is not None else strip_end_markers(reply.text or "")
        changed = hit is None or (rationale, dropped) != (hit.get("rationale"), hit.get("rationale_dropped"))
        if self.cache is not None and changed:
            value = {"p_first": p_first, "p_second": p_second, "rationale": rationale, "rationale_dropped": dropped}
            await self.cache.aput_many([(key, value)])
        return PairVerdict(
            p_a=(p_first + p_second) / 2,
            winner=winner,
            consistent=consistent,
            p_a_first_order=p_first,
            p_a_second_order=p_second,
            rationale=rationale,
            rationale_dropped=dropped,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=time.perf_counter() - started,
            **common,
        )


def _clip(p: float) -> float:
    return min(1.0, max(0.0, p))


def consistency_rate(verdicts: Sequence[PairVerdict]) -> float | None:
    """Share of scored pairs whose two orders picked the same response."""
    scored = [v for v in verdicts if v.consistent is not None]
    return sum(bool(v.consistent) for v in scored) / len(scored) if scored else None
