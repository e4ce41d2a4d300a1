"""``RunRecorder``: the one writer of runs into a verdict store, for the trainer, evaluation and tests.

Runs are named by text: each name is a run of the store, started on first use or resumed when it is already there
(kind 'eval' for a name containing ``/eval``, else the recorder's kind). This is the ``VerdictSink`` training writes
to (``judgerl.train.verdict_log``)::

    recorder = RunRecorder.open(store_path(run_dir), config=cfg, rubric=rubric)
    recorder.record_samples("grpo-math", step, samples, verdicts, rewards=rewards)   # one transaction per batch
    recorder.record_monitor("grpo-math", step, monitor.observe(step, samples, verdicts))
    recorder.finish_run("grpo-math")
    recorder.close()

Used as a context manager, a block that completes finishes the runs it touched and closes the store.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from judgerl.rubric import Rubric
from judgerl.samples import PairSample, Sample
from judgerl.store.verdict_store import CheckValue, RunKind, Source, VerdictStore
from judgerl.verdicts import PairVerdict, SampleVerdict

if TYPE_CHECKING:
    from judgerl.monitors import MonitorResult


class RunRecorder:
    """Named runs in one store; thread-safe as far as starting runs goes (the store serialises its writes)."""

    def __init__(
        self,
        store: VerdictStore,
        config: Mapping[str, Any] | BaseModel | None = None,
        *,
        rubric: Rubric | None = None,
        kind: RunKind = "train",
        owns_store: bool = True,
    ) -> None:
        self.store = store
        self.config = config
        self.rubric = rubric
        self.kind = kind
        self._owns_store = owns_store
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: str | Path,
        config: Mapping[str, Any] | BaseModel | None = None,
        *,
        rubric: Rubric | None = None,
        kind: RunKind = "train",
    ) -> RunRecorder:
        """A recorder over the store file at ``path`` (``store_path(run_dir)`` for a run folder)."""
        return cls(VerdictStore(path), config, rubric=rubric, kind=kind)

    def run(self, name: str) -> int:
        """The store's id of run ``name``, starting it (or resuming it) on first use."""
        with self._lock:
            if name not in self._ids:
                kind: RunKind = "eval" if "/eval" in name else self.kind
                self._ids[name] = int(self.store.start_run(name, kind, self.config, rubric=self.rubric, resume=True))
            return self._ids[name]

    def record_samples(
        self,
        run: str,
        step: int,
        samples: Sequence[Sample],
        verdicts: Sequence[SampleVerdict],
        *,
        rewards: Sequence[float | None] | None = None,
        response_tokens: Sequence[int | None] | None = None,
        checks: Sequence[Mapping[str, CheckValue]] | None = None,
        source: Source = "policy",
    ) -> None:
        """Store one batch; a sample already stored (a retried batch) is not stored again."""
        self.store.record_samples(
            self.run(run),
            step,
            samples,
            verdicts,
            rewards=rewards,
            response_tokens=response_tokens,
            checks=checks,
            source=source,
        )

    def record_pairs(
        self,
        run: str,
        step: int,
        pairs: Sequence[PairSample],
        verdicts: Sequence[PairVerdict],
        *,
        source: Source = "policy",
    ) -> None:
        self.store.record_pairs(self.run(run), step, pairs, verdicts, source=source)

    def record_monitor(self, run: str, step: int, result: MonitorResult) -> None:
        """Store a HackingMonitor step's metrics and warnings (they appear in the report)."""
        self.store.record_events(
            self.run(run),
            step,
            metrics=result.metrics,
            warnings=[(w.monitor, w.message, w.value, w.threshold) for w in result.warnings],
        )

    def record_stop(self, run: str, step: int, name: str, reason: str) -> None:
        """Training stopped early at ``step``: what stopped it and why (the report shows it)."""
        self.store.record_stop(self.run(run), step, name, reason)

    def discard_after(self, run: str, step: int) -> int:
        """Forget the run's verdicts of steps after ``step`` (a resumed run redoes them); how many went."""
        return int(self.store.discard_after(self.run(run), step))

    def finish_run(self, run: str) -> None:
        self.store.finish_run(self.run(run))

    def close(self) -> None:
        """Close the store (when the recorder opened it); runs stay as they are, unfinished ones too."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> RunRecorder:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is None:
                for name in list(self._ids):
                    self.finish_run(name)
        finally:
            self.close()
