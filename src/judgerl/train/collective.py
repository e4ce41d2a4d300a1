"""The few collective operations reward functions need when completions are spread over processes.

TRL calls reward functions on each process with that process's share of the generation batch; a GRPO group
can be split between processes. Reward code gathers what it needs through this seam, so it can be tested with
several simulated processes in one (see tests/test_preference_reward.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from judgerl.errors import JudgerlError


class Collective(Protocol):
    @property
    def process_index(self) -> int: ...

    @property
    def num_processes(self) -> int: ...

    def gather(self, values: list[Any]) -> list[Any]:
        """Every process's list, concatenated in process order, returned on every process."""
        ...


class SingleProcess:
    process_index = 0
    num_processes = 1

    def gather(self, values: list[Any]) -> list[Any]:
        return list(values)


class AccelerateCollective:
    """accelerate's process state (read when called, so it can be built before the trainer)."""

    @property
    def process_index(self) -> int:
        from accelerate import PartialState

        return int(PartialState().process_index)

    @property
    def num_processes(self) -> int:
        from accelerate import PartialState

        return int(PartialState().num_processes)

    def gather(self, values: list[Any]) -> list[Any]:
        if self.num_processes == 1:
            return list(values)
        from accelerate.utils import gather_object

        gathered: list[Any] = gather_object(values)
        return gathered


def on_main_process(collective: Collective, action: Callable[[], None]) -> None:
    """Run ``action`` on the main process only (a judge gate: once per run, not once per process); the others
    wait for it and fail with its error, so no process trains past a gate that failed on another."""
    failure: BaseException | None = None
    if collective.process_index == 0:
        try:
            action()
        except Exception as exc:  # shared first, raised after: the other processes must not wait forever
            failure = exc
    message = None if failure is None else str(failure) or type(failure).__name__
    if collective.num_processes > 1:
        message = next((found for found in collective.gather([message]) if found is not None), None)
    if failure is not None:
        raise failure
    if message is not None:
        raise JudgerlError(message)
