"""Running the judges' async core from synchronous code, inside or outside an event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, or in a helper thread when this thread already runs a loop (notebooks, servers)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def fan_out(
    items: Sequence[T],
    work: Callable[[T], Awaitable[R]],
    concurrency: int,
    done: Callable[[R], None] | None = None,
) -> list[R]:
    """``work`` on every item, at most ``concurrency`` at once, results in input order; ``done`` is called with
    each result as it finishes (a progress bar). The one per-item fan-out of the judges and the graders."""
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def one(item: T) -> R:
        async with semaphore:
            result = await work(item)
        if done is not None:
            done(result)
        return result

    return list(await asyncio.gather(*(one(item) for item in items)))


def judge_executor(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    """Worker threads for backend calls (``asyncio.to_thread``): as many as the judge's concurrency, since the
    default executor (min(32, cpus + 4) threads) would cap a remote judge's concurrency on a small machine."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=max(4, workers), thread_name_prefix="judgerl-judge")


class LoopThread:
    """One event loop on a daemon thread, reused by every call: for synchronous doors (a Lambda container,
    verl workers) whose deadlines must hold. ``asyncio.run`` would wait at exit for judge calls abandoned in
    worker threads; this loop never waits for them, and its concurrency bound lives as long as the process."""

    def __init__(self, name: str = "judgerl-loop", workers: int | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        if workers:
            self._loop.set_default_executor(judge_executor(workers))
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
