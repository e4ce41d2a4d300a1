"""Where every training verdict goes: the verdict store, through a thin interface.

The report reads ``judgerl.store.VerdictStore`` (SQLite, ``verdicts.sqlite`` in the run folder). Training only
needs ``record_samples(run_id, step, samples, verdicts, rewards=, checks=)``, ``record_pairs(...)`` for
preference judging, ``discard_after(run_id, step)`` so that a resumed run does not keep verdicts of steps it is
about to redo, and ``finish_run(run_id)`` once it is done. ``StoreAdapter`` maps these calls onto the
project's store (its runs have integer ids, started by name).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from judgerl.samples import PairSample, Sample
from judgerl.verdicts import PairVerdict, SampleVerdict

CheckRow = Mapping[str, float | bool | None]


@runtime_checkable
class VerdictSink(Protocol):
    def record_samples(
        self,
        run_id: str,
        step: int,
        samples: Sequence[Sample],
        verdicts: Sequence[SampleVerdict],
        *,
        rewards: Sequence[float | None] | None = None,
        checks: Sequence[CheckRow] | None = None,
    ) -> None: ...


def record_pairs(
    sink: VerdictSink, run_id: str, step: int, pairs: Sequence[PairSample], verdicts: Sequence[PairVerdict]
) -> None:
    """Pairwise verdicts go to the store when it can hold them (the local log can)."""
    method = getattr(sink, "record_pairs", None)
    if method is not None:
        method(run_id, step, pairs, verdicts)


def finish_run(sink: VerdictSink, run_id: str) -> None:
    """Mark a run finished (the report tells a finished run from one still running or killed)."""
    method = getattr(sink, "finish_run", None)
    if method is not None:
        method(run_id)


def close_sink(sink: VerdictSink) -> None:
    method = getattr(sink, "close", None)
    if method is not None:
        method()


def discard_after(sink: VerdictSink, run_id: str, step: int) -> int:
    """Forget a run's verdicts of steps after ``step`` (they will be redone); returns how many were removed."""
    method = getattr(sink, "discard_after", None)
    return int(method(run_id, step)) if method is not None else 0


class StoreAdapter:
    """The training calls on ``judgerl.store.VerdictStore``: each run id text is a run (started or resumed by
    name, kind 'eval' for evaluations); rewards and independent check values go with the verdicts."""

    def __init__(self, store: Any, config: Mapping[str, Any] | None = None) -> None:
        self.store = store
        self.config = dict(config or {})
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def _run(self, run_id: str) -> int:
        with self._lock:
            if run_id not in self._ids:
                kind = "eval" if "/eval" in run_id else "train"
                self._ids[run_id] = int(self.store.start_run(run_id, kind, self.config, resume=True))
            return self._ids[run_id]

    def record_samples(
        self,
        run_id: str,
        step: int,
        samples: Sequence[Sample],
        verdicts: Sequence[SampleVerdict],
        *,
        rewards: Sequence[float | None] | None = None,
        checks: Sequence[CheckRow] | None = None,
    ) -> None:
        self.store.record_samples(self._run(run_id), step, samples, verdicts, rewards=rewards, checks=checks)

    def record_pairs(
        self, run_id: str, step: int, pairs: Sequence[PairSample], verdicts: Sequence[PairVerdict]
    ) -> None:
        self.store.record_pairs(self._run(run_id), step, pairs, verdicts)

    def discard_after(self, run_id: str, step: int) -> int:
        return int(self.store.discard_after(self._run(run_id), step))

    def finish_run(self, run_id: str) -> None:
        self.store.finish_run(self._run(run_id))

    def close(self) -> None:
        self.store.close()


def open_verdict_store(path: str | Path, config: Mapping[str, Any] | None = None) -> VerdictSink:
    """The project's verdict store (what `judgerl report` reads), behind the calls training makes."""
    from judgerl.store import VerdictStore

    return StoreAdapter(VerdictStore(path), config)
