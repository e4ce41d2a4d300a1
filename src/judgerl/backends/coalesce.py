"""Concurrent ``alabel_probs`` calls to an in-process backend, coalesced into one planned pass.

The completions of a GRPO group (and the samples of a batch) arrive as concurrent calls that share the judge's
instructions and the task; scoring them in one ``label_probs`` call lets the backend compute their common prefix
once and run only each response and criterion on its own.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from judgerl.backends.base import JudgeBackend, JudgePrompt, LabelResult
from judgerl.errors import JudgerlError


@dataclass
class _Request:
    prompts: list[JudgePrompt]
    labels: tuple[str, ...]
    future: asyncio.Future[list[LabelResult]]
    loop: asyncio.AbstractEventLoop


def _resolve(future: asyncio.Future[list[LabelResult]], results: list[LabelResult]) -> None:
    if not future.done():
        future.set_result(results)


def _fail(future: asyncio.Future[list[LabelResult]], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class CoalescedLabels(JudgeBackend):
    """A backend whose concurrent ``alabel_probs`` calls wait ``coalesce_ms`` for each other and are scored in
    one ``label_probs`` call (in rounds, by a drain thread). Subclasses call ``_init_coalescing`` and set
    ``share_prefix``."""

    share_prefix: bool = True

    def _init_coalescing(self, coalesce_ms: float) -> None:
        if not (coalesce_ms >= 0 and math.isfinite(coalesce_ms)):
            raise JudgerlError(f"coalesce_ms must be a finite number >= 0, got {coalesce_ms}")
        self.coalesce_s = coalesce_ms / 1000
        self._pending: list[_Request] = []
        self._pending_lock = threading.Lock()
        self._draining = False

    async def alabel_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        """Concurrent calls are coalesced into one planned pass; ``coalesce_ms`` is how long the first caller
        waits for the others (0: no coalescing)."""
        if self.coalesce_s <= 0 or not self.share_prefix:
            return await super().alabel_probs(prompts, labels)
        loop = asyncio.get_running_loop()
        request = _Request(list(prompts), tuple(labels), loop.create_future(), loop)
        with self._pending_lock:
            self._pending.append(request)
            start = not self._draining
            self._draining = True
        if start:
            await asyncio.sleep(self.coalesce_s)  # let the batch's other samples arrive
            threading.Thread(target=self._drain, name="judge-coalesce", daemon=True).start()
        return await request.future

    def _drain(self) -> None:
        """Score every pending request, in rounds, until none is left (runs in its own thread)."""
        while True:
            with self._pending_lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._draining = False
                    return
            by_labels: dict[tuple[str, ...], list[_Request]] = {}
            for request in batch:
                by_labels.setdefault(request.labels, []).append(request)
            for labels, requests in by_labels.items():
                try:
                    results = self.label_probs([p for r in requests for p in r.prompts], labels)
                except BaseException as exc:  # delivered to each caller, whose error guard makes it unscored
                    for r in requests:
                        r.loop.call_soon_threadsafe(_fail, r.future, exc)
                    continue
                offset = 0
                for r in requests:
                    part = results[offset : offset + len(r.prompts)]
                    offset += len(r.prompts)
                    r.loop.call_soon_threadsafe(_resolve, r.future, part)
