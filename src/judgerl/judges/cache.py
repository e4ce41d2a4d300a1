"""Verdict cache: SQLite, content-addressed. A hit costs no model call. Only scored verdicts are cached.

The cache is an optimisation, never a reason to lose a verdict or to stall a server:
- lookups go by the primary key (an index: constant time in the size of the cache), on the calling thread's own
  read connection — no lock shared with writers, and WAL readers never wait for another process's write lock;
- writes are queued and returned from at once; one writer thread commits whatever has queued up in one
  transaction, so writers never wait on each other. A batch the writer cannot commit (another process holds the
  write lock longer than ``write_timeout_s``, a disk error) is logged and dropped: the verdicts stand, uncached;
- queued writes not yet committed are answered from memory, so a verdict is a hit as soon as it is put;
- the async variants run lookups on a worker thread, so nothing here runs on an event loop.

``bool(cache)`` is always True: a cache is "there" whatever it holds (``len`` counts rows and is slow; it is for
reports, never for a hot path)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: how long a write waits for another process's write lock before it is skipped (reads do not wait in WAL mode)
DEFAULT_WRITE_TIMEOUT_S = 2.0
#: queued verdicts beyond this are dropped (logged) rather than held in memory while the cache file is locked
MAX_PENDING_WRITES = 100_000
_LOOKUP_CHUNK = 500  # keys per SELECT ... IN (...), under SQLite's variable limit

_Batch = list[tuple[str, str, float]]


def cache_key(*parts: Any) -> str:
    """sha256 over the JSON of everything that can change a verdict."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8", "replace")).hexdigest()


class VerdictCache:
    """key -> JSON value. Thread-safe; safe for several processes (WAL). See the module docstring."""

    def __init__(self, path: str | Path, write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write_timeout_s = write_timeout_s
        setup = sqlite3.connect(str(self.path), timeout=30)
        try:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.execute(
                "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
            )
            setup.commit()
        finally:
            setup.close()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()  # guards the list only, never held during a query
        self._pending: dict[str, str] = {}  # queued, not yet committed: key -> JSON
        self._pending_lock = threading.Lock()  # held for dict operations only
        self._queue: queue.SimpleQueue[tuple[_Batch, Future[bool]] | None] = queue.SimpleQueue()
        self._closed = False
        self.hits = 0
        self.misses = 0
        self.failed_writes = 0
        self._writer = threading.Thread(target=self._write_loop, name=f"verdict-cache-writer:{self.path.name}")
        self._writer.daemon = True
        self._writer.start()
        atexit.register(self.close)  # a program that never closes its cache still keeps what it queued

    def __bool__(self) -> bool:
        return True

    # ---- reads -------------------------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=self.write_timeout_s)
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    def get(self, key: str) -> dict[str, Any] | None:
        return self.get_many([key])[0]

    def get_many(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        """Values for these keys (None for a miss), by primary-key lookups; a failed read is a logged miss."""
        found: dict[str, str] = {}
        with self._pending_lock:
            for key in keys:
                if key in self._pending:
                    found[key] = self._pending[key]
        wanted = [key for key in dict.fromkeys(keys) if key not in found]
        try:
            db = self._reader()
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                chunk = wanted[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(db.execute(f"SELECT key, value FROM verdicts WHERE key IN ({marks})", chunk).fetchall())
        except sqlite3.Error as exc:
            logger.warning("verdict cache %s: read failed, judging afresh: %s", self.path, exc)
        values: list[dict[str, Any] | None] = []
        for key in keys:
            blob = found.get(key)
            value = _decoded(blob) if blob is not None else None
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            values.append(value)
        return values

    # ---- writes ------------------------------------------------------------------------------------------

    def put(self, key: str, value: dict[str, Any]) -> bool:
        return self.put_many([(key, value)])

    def put_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> bool:
        """Queue these and wait for their commit: False (logged) when the cache could not take them."""
        future = self.queue_many(items)
        return future.result()

    def queue_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> Future[bool]:
        """Queue these for the writer thread and return at once; the future says whether they were committed."""
        future: Future[bool] = Future()
        if not items:
            future.set_result(True)
            return future
        now = time.time()
        batch = [(key, json.dumps(value, ensure_ascii=False), now) for key, value in items]
        with self._pending_lock:
            if self._closed or len(self._pending) + len(batch) > MAX_PENDING_WRITES:
                full = True
            else:
                full = False
                self._pending.update((key, blob) for key, blob, _ in batch)
        if full:
            self.failed_writes += len(batch)
            logger.warning("verdict cache %s: %d verdicts not cached (queue full or closed)", self.path, len(batch))
            future.set_result(False)
            return future
        self._queue.put((batch, future))
        return future

    def _write_loop(self) -> None:
        db = sqlite3.connect(str(self.path), timeout=self.write_timeout_s)
        db.execute(f"PRAGMA busy_timeout = {max(0, int(self.write_timeout_s * 1000))}")
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                taken = [first]
                stop = False
                with contextlib.suppress(queue.Empty):
                    while True:  # everything queued meanwhile goes into the same transaction
                        more = self._queue.get_nowait()
                        if more is None:
                            stop = True
                            break
                        taken.append(more)
                self._commit(db, taken)
                if stop:
                    return
        finally:
            db.close()

    def _commit(self, db: sqlite3.Connection, taken: list[tuple[_Batch, Future[bool]]]) -> None:
        rows = [row for batch, _ in taken for row in batch]
        try:
            db.executemany("INSERT OR REPLACE INTO verdicts (key, value, created) VALUES (?, ?, ?)", rows)
            db.commit()
            ok = True
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.rollback()
            self.failed_writes += len(rows)
            logger.warning("verdict cache %s: %d verdicts not cached (%s); they stand", self.path, len(rows), exc)
            ok = False
        with self._pending_lock:
            for key, blob, _ in rows:
                if self._pending.get(key) == blob:
                    del self._pending[key]
        for _, future in taken:
            future.set_result(ok)

    # ---- async -------------------------------------------------------------------------------------------

    async def aget(self, key: str) -> dict[str, Any] | None:
        return (await self.aget_many([key]))[0]

    async def aget_many(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        return await asyncio.to_thread(self.get_many, keys)

    async def aput_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> bool:
        """Queue and return at once (True): the writer commits in the background and logs what it cannot."""
        self.queue_many(items)
        return True

    # ---- housekeeping ------------------------------------------------------------------------------------

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until everything queued so far is committed or dropped; False when that took longer than timeout_s."""
        if self._closed:
            return True
        probe: Future[bool] = Future()
        self._queue.put(([], probe))  # the writer reaches it after everything queued before it
        try:
            probe.result(timeout_s)
        except TimeoutError:
            return False
        return True

    def __len__(self) -> int:
        """Rows in the cache once what is queued is written (a full count: for reports and tests, never a hot path)."""
        self.flush()
        count: int = self._reader().execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
        return count

    def close(self, timeout_s: float | None = None) -> None:
        """Commit what is queued (waiting at most timeout_s), stop the writer, close the connections."""
        with self._pending_lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(None)
        self._writer.join(timeout_s)
        atexit.unregister(self.close)
        with self._connections_lock:
            for db in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            self._connections.clear()


def _decoded(blob: str) -> dict[str, Any] | None:
    try:
        value = json.loads(blob)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
