"""A minimal SQLite implementation of judgerl.train.verdict_log.VerdictSink for the reward tests: rows read back
as (step, sample, verdict) without the report store's schema."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from judgerl.samples import PairSample, Sample
from judgerl.train.verdict_log import CheckRow
from judgerl.verdicts import PairVerdict, SampleVerdict

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
