"""The few collective operations reward functions need when completions are spread over processes.

TRL calls reward functions on each process with that process's share of the generation batch; a GRPO group
can be split between processes. Reward code gathers what it needs through this seam, so it can be tested with
several simulated processes in one (see tests/test_preference_reward.py).
"""

from __future__ import annotations

from typing import Any, Protocol


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
