"""``Judge``: what every judge does around judging one item.

A judge fans items out under its concurrency bound (:func:`judgerl.aio.fan_out`), turns unstarted items into
"budget exhausted" verdicts once the budget is spent, turns an exception while judging an item into an unscored
verdict with the reason (a ``JudgerlError`` is a user mistake and propagates), charges the tokens of every call
made for an item in ``finally`` (a call that raised is still paid for), and reports each verdict to ``progress``.
Subclasses implement one per-item hook, ``_judge_item``, and say what their unscored verdict looks like (``_unscored``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from judgerl.aio import fan_out, run_sync
from judgerl.backends.base import JudgeBackend
from judgerl.errors import JudgerlError
from judgerl.judges.budget import Budget
from judgerl.verdicts import PairVerdict, SampleVerdict


class Identified(Protocol):
    """What a judge judges: anything with an id (a Sample, a PairSample, a grader's row)."""

    @property
    def id(self) -> str: ...


ItemT = TypeVar("ItemT", bound=Identified)
VerdictT = TypeVar("VerdictT", SampleVerdict, PairVerdict)


class Usage:
    """Tokens summed over every backend call made for one item (what the budget is charged)."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0

    @staticmethod
    def fields(usage: Usage | None) -> dict[str, int]:
        """Verdict fields for the tokens of ``usage``; none when nothing was started (the verdict's defaults)."""
        if usage is None:
            return {}
        return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}


class Judge(Generic[ItemT, VerdictT]):
    """Fan-out, budget, error guard, usage accounting and progress around ``_judge_item``."""

    #: None only for a grader that calls no model
    backend: JudgeBackend | None
    concurrency: int
    budget: Budget | None
    #: what an item is called in the log when judging it failed
    item_noun = "item"

    def _setup(self, backend: JudgeBackend | None, concurrency: int, budget: Budget | None) -> None:
        self.backend = backend
        self.concurrency = max(1, concurrency)
        self.budget = budget
        if budget is not None:
            budget.require_price(self.model_id)

    @property
    def model_id(self) -> str:
        """The model the verdicts name and the budget prices."""
        return self.backend.model_id if self.backend is not None else "none"

    # ---- the per-item hooks ------------------------------------------------------------------------------

    async def _judge_item(self, item: ItemT, usage: Usage) -> VerdictT:
        """The verdict for one item; adds the tokens of each backend call to ``usage`` as it goes."""
        raise NotImplementedError

    def _unscored(self, item: ItemT, reason: str, usage: Usage | None) -> VerdictT:
        """An unscored verdict for ``item`` (``usage``: the tokens spent, None when nothing was started)."""
        raise NotImplementedError

    def tally_lines(self) -> list[str]:
        """A cascade's per-stage tally; a single judge has none."""
        return []

    # ---- shared --------------------------------------------------------------------------------------------

    def judge(self, items: Sequence[ItemT], progress: Callable[[VerdictT], None] | None = None) -> list[VerdictT]:
        """One verdict per item, in order; failures come back unscored with a reason."""
        return run_sync(self.ajudge(items, progress))

    async def ajudge(
        self, items: Sequence[ItemT], progress: Callable[[VerdictT], None] | None = None
    ) -> list[VerdictT]:
        return await fan_out(items, self._budgeted, self.concurrency, progress)

    async def _budgeted(self, item: ItemT) -> VerdictT:
        exhausted = self.budget.exhausted_reason() if self.budget is not None else None
        if exhausted is not None:
            return self._unscored(item, exhausted, None)
        usage = Usage()
        cost: float | None = None
        try:
            verdict = await self._guarded(item, usage)
        finally:  # tokens spent before a call raised are charged too
            if self.budget is not None:
                cost = self.budget.charge(self.model_id, usage.prompt_tokens, usage.completion_tokens)
        if self.budget is not None:
            verdict = verdict.model_copy(update={"cost_usd": cost})
        return verdict

    async def _guarded(self, item: ItemT, usage: Usage) -> VerdictT:
        try:
            return await self._judge_item(item, usage)
        except JudgerlError:
            raise
        except Exception as exc:  # a bug or a backend crash must not lose the item
            logging.getLogger(type(self).__module__).exception("judging %s %s failed", self.item_noun, item.id)
            return self._unscored(item, f"judge error: {type(exc).__name__}: {exc}", usage)
