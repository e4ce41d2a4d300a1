"""The verdict store (RUN_DIR/verdicts.sqlite) and a per-run recorder for the trainer, the CLI and the server.

Training::

    recorder = RunRecorder.open(run_dir, name="grpo-math", kind="train", config=cfg, rubric=rubric)
    recorder.record_samples(step, samples, verdicts, rewards=rewards)   # one transaction per batch
    recorder.record_monitor(step, monitor.observe(step, samples, verdicts))
    recorder.close()

`judgerl judge`::

    record_judge_run(run_dir, samples, verdicts, rubric=rubric, config={...})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from judgerl.rubric import Rubric
from judgerl.samples import PairSample, Sample
from judgerl.store.queries import RunInfo, StoredCriterion, StoredEvent, StoredPair, StoredSample
from judgerl.store.verdict_store import CheckValue, RunKind, Source, VerdictStore, prompt_hash
from judgerl.verdicts import PairVerdict, SampleVerdict

if TYPE_CHECKING:
    from judgerl.monitors import MonitorResult

STORE_FILENAME = "verdicts.sqlite"
REPORT_FILENAME = "report.html"

__all__ = [
    "REPORT_FILENAME",
    "STORE_FILENAME",
    "RunInfo",
    "RunRecorder",
    "StoredCriterion",
    "StoredEvent",
    "StoredPair",
    "StoredSample",
    "VerdictStore",
    "prompt_hash",
    "record_judge_run",
    "store_path",
]


def store_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / STORE_FILENAME


class RunRecorder:
    """One run in one store: what the trainer, `judgerl judge` and the reward server hold while they work."""

    def __init__(self, store: VerdictStore, run_id: int, *, owns_store: bool = False) -> None:
        self.store = store
        self.run_id = run_id
        self._owns_store = owns_store

    @classmethod
    def open(
        cls,
        run_dir: str | Path,
        *,
        name: str,
        kind: RunKind,
        config: Mapping[str, Any] | BaseModel | None = None,
        rubric: Rubric | None = None,
        resume: bool = False,
    ) -> RunRecorder:
        store = VerdictStore(store_path(run_dir))
        try:
            run_id = store.start_run(name, kind, config, rubric=rubric, resume=resume)
        except BaseException:
            store.close()
            raise
        return cls(store, run_id, owns_store=True)

    def record_samples(
        self,
        step: int,
        samples: Sequence[Sample],
        verdicts: Sequence[SampleVerdict],
        *,
        rewards: Sequence[float | None] | None = None,
        response_tokens: Sequence[int | None] | None = None,
        checks: Sequence[Mapping[str, CheckValue]] | None = None,
        source: Source = "policy",
    ) -> None:
        self.store.record_samples(
            self.run_id,
            step,
            samples,
            verdicts,
            rewards=rewards,
            response_tokens=response_tokens,
            checks=checks,
            source=source,
        )

    def record_pairs(
        self, step: int, pairs: Sequence[PairSample], verdicts: Sequence[PairVerdict], *, source: Source = "policy"
    ) -> None:
        self.store.record_pairs(self.run_id, step, pairs, verdicts, source=source)

    def record_monitor(self, step: int, result: MonitorResult) -> None:
        """Store a HackingMonitor step's metrics and warnings (they appear in the report)."""
        self.store.record_events(
            self.run_id,
            step,
            metrics=result.metrics,
            warnings=[(w.monitor, w.message, w.value, w.threshold) for w in result.warnings],
        )

    def close(self) -> None:
        self.store.finish_run(self.run_id)
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> RunRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_judge_run(
    run_dir: str | Path,
    samples: Sequence[Sample] | Sequence[PairSample],
    verdicts: Sequence[SampleVerdict] | Sequence[PairVerdict],
    *,
    rubric: Rubric | None = None,
    config: Mapping[str, Any] | BaseModel | None = None,
    name: str | None = None,
) -> Path:
    """Store a `judgerl judge` output (rubric or pairwise) as one run at step 0; returns the store's path.

    The run is named after the run directory unless ``name`` is given; judging into the same directory again
    adds a run named ``<name>-2``, ``-3``... so earlier results are kept."""
    path = store_path(run_dir)
    base = name or Path(run_dir).resolve().name or "judge"
    with VerdictStore(path) as store:
        run_id = store.start_run(base, "judge", config, rubric=rubric, unique=True)  # -2, -3... chosen atomically
        pairs = [s for s in samples if isinstance(s, PairSample)]
        if pairs:
            store.record_pairs(run_id, 0, pairs, [v for v in verdicts if isinstance(v, PairVerdict)])
        else:
            rubric_samples = [s for s in samples if isinstance(s, Sample)]
            store.record_samples(run_id, 0, rubric_samples, [v for v in verdicts if isinstance(v, SampleVerdict)])
        store.finish_run(run_id)
    return path
