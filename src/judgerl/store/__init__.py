"""The verdict store (RUN_DIR/verdicts.sqlite) and its one run writer, ``RunRecorder`` (store/recorder.py), for the
trainer, evaluation and tests.

Training::

    recorder = RunRecorder.open(store_path(run_dir), config=cfg, rubric=rubric)
    recorder.record_samples("grpo-math", step, samples, verdicts, rewards=rewards)   # one transaction per batch
    recorder.record_monitor("grpo-math", step, monitor.observe(step, samples, verdicts))
    recorder.finish_run("grpo-math")

`judgerl judge`::

    record_judge_run(run_dir, samples, verdicts, rubric=rubric, config={...})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from judgerl.rubric import Rubric
from judgerl.samples import PairSample, Sample
from judgerl.store.queries import RunInfo, StoredCriterion, StoredEvent, StoredPair, StoredSample
from judgerl.store.recorder import RunRecorder
from judgerl.store.verdict_store import VerdictStore, prompt_hash
from judgerl.verdicts import PairVerdict, SampleVerdict

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
