"""Where every training verdict goes: the verdict store, through a thin interface.

The report reads ``judgerl.store.VerdictStore`` (SQLite, ``verdicts.sqlite`` in the run folder). Training only
needs ``record_samples(run_id, step, samples, verdicts, rewards=, checks=)``, ``record_pairs(...)`` for
preference judging, ``discard_after(run_id, step)`` so that a resumed run does not keep verdicts of steps it is
about to redo, and ``finish_run(run_id)`` once it is done. ``judgerl.store.RunRecorder`` implements these calls on
the project's store (its runs have integer ids, started or resumed by name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from judgerl.samples import PairSample, Sample
from judgerl.store import RunRecorder
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


def open_verdict_store(path: str | Path, config: Mapping[str, Any] | None = None) -> VerdictSink:
    """The project's verdict store (what `judgerl report` reads), behind the calls training makes."""
    return RunRecorder.open(path, dict(config or {}))
