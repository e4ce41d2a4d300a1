"""Where every training verdict goes: the verdict store, through a thin interface.

The report reads ``judgerl.store.VerdictStore`` (SQLite, ``verdicts.sqlite`` in the run folder). Training only
needs ``record_samples(run_id, step, samples, verdicts, rewards=, checks=)``, ``record_pairs(...)`` for
preference judging and ``discard_after(run_id, step)`` so that a resumed run does not keep verdicts of steps it is
about to redo. ``StoreAdapter`` maps these calls onto the project's store when it is installed (its runs have
integer ids, started by name); ``LocalVerdictLog`` is a minimal SQLite implementation of the same calls, used
until then.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
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


def discard_after(sink: VerdictSink, run_id: str, step: int) -> int:
    """Forget a run's verdicts of steps after ``step`` (they will be redone); returns how many were removed."""
    method = getattr(sink, "discard_after", None)
    return int(method(run_id, step)) if method is not None else 0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS sample_verdicts (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, sample_id TEXT NOT NULL,
    prompt_id TEXT, score REAL, reward REAL, checks TEXT, sample TEXT NOT NULL, verdict TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (run_id, step, sample_id));
CREATE TABLE IF NOT EXISTS pair_verdicts (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, pair_id TEXT NOT NULL,
    pair TEXT NOT NULL, verdict TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (run_id, step, pair_id));
"""


class LocalVerdictLog:
    """Minimal SQLite verdict store: one row per (run, step, sample), replaced when written again."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._db.commit()

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
        now = time.time()
        rows = [
            (
                run_id,
                step,
                sample.id,
                str(sample.metadata.get("prompt_id", "")),
                verdict.score,
                None if rewards is None else rewards[k],
                None if checks is None else json.dumps(dict(checks[k])),
                sample.model_dump_json(),
                verdict.model_dump_json(),
                now,
            )
            for k, (sample, verdict) in enumerate(zip(samples, verdicts, strict=True))
        ]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO sample_verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def record_pairs(
        self, run_id: str, step: int, pairs: Sequence[PairSample], verdicts: Sequence[PairVerdict]
    ) -> None:
        now = time.time()
        rows = [
            (run_id, step, pair.id, pair.model_dump_json(), verdict.model_dump_json(), now)
            for pair, verdict in zip(pairs, verdicts, strict=True)
        ]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO pair_verdicts VALUES (?, ?, ?, ?, ?, ?)", rows)

    def discard_after(self, run_id: str, step: int) -> int:
        with self._lock, self._db:
            removed = self._db.execute(
                "DELETE FROM sample_verdicts WHERE run_id = ? AND step > ?", (run_id, step)
            ).rowcount
            removed += self._db.execute(
                "DELETE FROM pair_verdicts WHERE run_id = ? AND step > ?", (run_id, step)
            ).rowcount
        return int(removed)

    def steps(self, run_id: str) -> list[int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT step FROM sample_verdicts WHERE run_id = ? ORDER BY step", (run_id,)
            ).fetchall()
        return [int(r[0]) for r in rows]

    def sample_rows(self, run_id: str) -> list[tuple[int, Sample, SampleVerdict]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT step, sample, verdict FROM sample_verdicts WHERE run_id = ? ORDER BY step, sample_id", (run_id,)
            ).fetchall()
        return [(int(s), Sample.model_validate_json(a), SampleVerdict.model_validate_json(v)) for s, a, v in rows]

    def pair_rows(self, run_id: str) -> list[tuple[int, PairSample, PairVerdict]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT step, pair, verdict FROM pair_verdicts WHERE run_id = ? ORDER BY step, pair_id", (run_id,)
            ).fetchall()
        return [(int(s), PairSample.model_validate_json(a), PairVerdict.model_validate_json(v)) for s, a, v in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


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
        self.store.discard_after(self._run(run_id), step)
        return -1  # the store does not say how many

    def close(self) -> None:
        self.store.close()


def open_verdict_store(path: str | Path, config: Mapping[str, Any] | None = None) -> VerdictSink:
    """The project's verdict store (what `judgerl report` reads), behind the calls training makes."""
    from judgerl.store import VerdictStore

    return StoreAdapter(VerdictStore(path), config)
