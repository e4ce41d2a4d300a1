"""Verdict cache: SQLite, content-addressed. A hit costs no model call. Only scored verdicts are cached.

The cache is an optimisation, never a reason to lose a verdict: a read or write that fails (another process holds
the write lock longer than ``write_timeout_s``, a disk error) is logged and treated as a miss or a skipped write.
The async variants run the SQLite calls on a worker thread, so a locked cache never blocks an event loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: how long a write waits for another process's write lock before it is skipped (reads do not wait in WAL mode)
DEFAULT_WRITE_TIMEOUT_S = 2.0


def cache_key(*parts: Any) -> str:
    """sha256 over the JSON of everything that can change a verdict."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8", "replace")).hexdigest()


class VerdictCache:
    """key -> JSON value. Thread-safe; safe for several processes (WAL, a short busy timeout)."""

    def __init__(self, path: str | Path, write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
        )
        self._db.commit()
        self._db.execute(f"PRAGMA busy_timeout = {max(0, int(write_timeout_s * 1000))}")
        self.hits = 0
        self.misses = 0
        self.failed_writes = 0

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            with self._lock:
                row = self._db.execute("SELECT value FROM verdicts WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            logger.warning("verdict cache %s: read failed, judging afresh: %s", self.path, exc)
            row = None
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        value: dict[str, Any] = json.loads(row[0])
        return value

    def put(self, key: str, value: dict[str, Any]) -> bool:
        return self.put_many([(key, value)])

    def put_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> bool:
        """Write in one transaction; False (logged) when the cache could not take them."""
        if not items:
            return True
        now = time.time()
        rows = [(key, json.dumps(value, ensure_ascii=False), now) for key, value in items]
        with self._lock:
            try:
                self._db.executemany("INSERT OR REPLACE INTO verdicts (key, value, created) VALUES (?, ?, ?)", rows)
                self._db.commit()
                return True
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.rollback()
                self.failed_writes += len(rows)
                problem = exc
        logger.warning("verdict cache %s: %d verdicts not cached (%s); they stand", self.path, len(rows), problem)
        return False

    async def aget(self, key: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.get, key)

    async def aput_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> bool:
        return await asyncio.to_thread(self.put_many, items)

    def __len__(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
        return count

    def close(self) -> None:
        with self._lock:
            self._db.close()
