"""The verdict cache never makes its caller wait: issue 28 (a locked cache file stalled the reward server)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from judgerl.judges.cache import VerdictCache
from support.serve import write_locked_cache


def test_truth_of_a_cache_never_counts_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = VerdictCache(tmp_path / "c.db")

    def no_count(self: VerdictCache) -> int:
        raise AssertionError("len() counted the cache's rows")

    monkeypatch.setattr(VerdictCache, "__len__", no_count)
    assert cache  # `if self.cache` in the judges: the old cache ran SELECT COUNT(*) under its lock here
    cache.close()


def test_async_writes_return_at_once_while_the_file_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cache = VerdictCache(path, write_timeout_s=5.0)
    with write_locked_cache(path):
        started = time.perf_counter()
        for i in range(5):  # the old writes waited the 5 s busy timeout each, one after another
            assert asyncio.run(cache.aput_many([(f"k{i}", {"p_pass": 0.9})]))
        assert time.perf_counter() - started < 1.0
        assert cache.get("k3") == {"p_pass": 0.9}  # queued, answered from memory
    assert cache.flush(timeout_s=30)
    cache.close()
    reopened = VerdictCache(path)
    # the lock went within the writer's 5 s wait: committed after all
    assert [reopened.get(f"k{i}") for i in range(5)] == [{"p_pass": 0.9}] * 5
    reopened.close()


def test_reads_do_not_wait_for_a_blocked_write(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cache = VerdictCache(path, write_timeout_s=3.0)
    assert cache.put("old", {"p_pass": 0.1})
    with write_locked_cache(path):
        writer = threading.Thread(target=cache.put, args=("new", {"p_pass": 0.9}))
        writer.start()
        time.sleep(0.2)  # the write now waits for the lock
        started = time.perf_counter()
        assert cache.get_many(["old", "missing"]) == [{"p_pass": 0.1}, None]
        assert time.perf_counter() - started < 1.0  # the old lookups queued behind the write's lock for 3 s
        writer.join()
    cache.close()


def test_writes_queued_together_are_committed_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cache = VerdictCache(path, write_timeout_s=0.5)
    with write_locked_cache(path):
        for i in range(50):
            cache.queue_many([(f"k{i}", {"p_pass": i / 50})])
        cache.flush(timeout_s=30)
    # each of the 50 would have waited 0.5 s alone; batched, at most a few transactions failed
    assert cache.failed_writes == 50
    for i in range(50):
        cache.queue_many([(f"k{i}", {"p_pass": i / 50})])
    assert cache.flush(timeout_s=30)
    assert len(cache) == 50 and cache.get("k49") == {"p_pass": 49 / 50}
    cache.close()


def test_lookups_go_by_the_primary_key_index(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path / "c.db")
    plan = sqlite3.connect(tmp_path / "c.db").execute(
        "EXPLAIN QUERY PLAN SELECT key, value FROM verdicts WHERE key IN (?, ?)", ("a", "b")
    )
    detail = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX" in detail or "PRIMARY KEY" in detail, detail  # constant time, not a scan
    cache.close()
