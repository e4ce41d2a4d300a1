"""Judge slots shared fairly between requests: a small request is never queued behind a large batch.

A plain semaphore is first come, first served: a 400-sample batch queues 400 waiters, and a 1-sample request that
arrives after it waits for all of them (2.9 s in issue 28's trial). ``FairSlots`` hands a freed slot to the
waiting request that holds the fewest slots (ties: in turns), so every request in flight
gets its share and a lone batch still uses every slot. The request a waiter belongs to is read from a context
variable, which the tasks a request creates inherit; code that sets none shares one default owner."""

from __future__ import annotations

import asyncio
import contextvars
from collections import Counter, deque
from types import TracebackType

#: the request (any hashable token) the current task judges for
current_owner: contextvars.ContextVar[object] = contextvars.ContextVar("judgerl_slot_owner", default=None)


class FairSlots:
    """``async with slots:`` like a semaphore of ``count`` slots, fair between owners. One event loop only."""

    def __init__(self, count: int) -> None:
        self._free = max(1, count)
        self._held: Counter[object] = Counter()
        self._waiting: dict[object, deque[asyncio.Future[None]]] = {}  # insertion order: who waited first

    async def __aenter__(self) -> None:
        owner = current_owner.get()
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(owner, deque()).append(future)
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._hand_on()  # the slot was handed to us as we were cancelled: pass it on
                else:
                    queue = self._waiting.get(owner)
                    if queue is not None and future in queue:
                        queue.remove(future)
                        if not queue:
                            del self._waiting[owner]
                raise
        self._held[owner] += 1

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        owner = current_owner.get()
        self._held[owner] -= 1
        if self._held[owner] <= 0:
            del self._held[owner]
        self._hand_on()

    def _hand_on(self) -> None:
        """Give a free slot to the waiting owner holding the fewest, or keep it free."""
        while self._waiting:
            owner = min(self._waiting, key=lambda o: self._held.get(o, 0))
            queue = self._waiting[owner]
            future = queue.popleft()
            del self._waiting[owner]
            if queue:  # to the back of the line: owners with equal shares take turns
                self._waiting[owner] = queue
            if not future.done():
                future.set_result(None)
                return
        self._free += 1
