"""A writer killed with SIGKILL mid-write leaves a store that passes integrity_check, with no partial batch.

The child process records batches of rubric verdicts the way the trainer does. In the first test it pauses
inside the transaction of its third batch (after some of that batch's verdict rows were inserted) and is
killed there; in the second it writes in a loop and is killed at arbitrary moments; in the third two writers share
the store, each acknowledging a batch (in a file, flushed) only once record_samples returned, and are killed at
arbitrary moments: every acknowledged batch must be there, whole. All are bounded in time.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = r"""
import os, sys, time
sys.path.insert(0, {tests!r})
from judgerl import CriterionVerdict, Sample, SampleVerdict
from judgerl.store import VerdictStore

path, marker, pause_step, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
run_name, acks = sys.argv[5], sys.argv[6]
store = VerdictStore(path)
run = store.start_run(run_name, "train", resume=True)
first = (store.steps(run) or [-1])[-1] + 1
state = {{"step": first, "inserted": 0}}

def trace(statement):
    # Pause in the middle of the chosen batch's transaction, after half its verdict rows were inserted.
    if state["step"] == pause_step and statement.startswith("INSERT INTO criterion_verdicts"):
        state["inserted"] += 1
        if state["inserted"] == batch * 3 // 2:
            with open(marker, "w") as handle:
                handle.write(str(state["step"]))
            time.sleep(600)

store._db.set_trace_callback(trace)
for step in range(first, first + 100000):
    state["step"] = step
    samples = [Sample(id=f"{{step}}-{{i}}", prompt=f"prompt {{i % 4}}", response="x" * (50 + i)) for i in range(batch)]
    verdicts = [
        SampleVerdict(
            id=s.id,
            score=0.5,
            criteria=[
                CriterionVerdict(name=name, passed=i % 2 == 0, p_pass=0.4, rationale="because " * 20)
                for name in ("a", "b", "c")
            ],
        )
        for i, s in enumerate(samples)
    ]
    store.record_samples(run, step, samples, verdicts)
    if acks:
        with open(acks, "a") as handle:  # acknowledged only once the store said it was written
            handle.write(f"{{step}}\n")
            handle.flush()
            os.fsync(handle.fileno())
    if step == first:
        with open(marker + ".started", "w") as handle:
            handle.write("1")
"""

BATCH = 40
CRITERIA = 3


def start_writer(
    tmp_path: Path, db: Path, pause_step: int, run: str = "crash", acks: Path | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    script = tmp_path / "writer.py"
    # Replaced, not rewritten in place: a writer started a moment ago may still be reading the file, and a truncated
    # script runs as an empty one (it exits 0 before its first batch).
    staged = tmp_path / f"writer-{time.monotonic_ns()}.py"
    staged.write_text(CHILD.format(tests=str(Path(__file__).parent)))
    os.replace(staged, script)
    marker = tmp_path / f"marker-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    process = subprocess.Popen(
        [sys.executable, str(script), str(db), str(marker), str(pause_step), str(BATCH), run, str(acks or "")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return process, marker


def wait_for(path: Path, process: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"writer exited early with {process.returncode}: {stderr[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"writer did not reach {path.name} within {timeout_s} s")
        time.sleep(0.02)


def kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    if process.stderr:
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def check_store(db: Path) -> dict[int, int]:
    """Integrity, and every batch whole: returns samples per step."""
    connection = sqlite3.connect(db)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        partial = connection.execute(
            "SELECT s.id, s.n_criteria, COUNT(c.id) FROM samples s LEFT JOIN criterion_verdicts c "
            "ON c.sample_row = s.id GROUP BY s.id HAVING COUNT(c.id) != s.n_criteria"
        ).fetchall()
        assert partial == [], f"samples with missing verdict rows: {partial[:5]}"
        orphans = connection.execute(
            "SELECT COUNT(*) FROM criterion_verdicts WHERE sample_row NOT IN (SELECT id FROM samples)"
        ).fetchone()[0]
        assert orphans == 0
        per_step = dict(connection.execute("SELECT step, COUNT(*) FROM samples GROUP BY step").fetchall())
    finally:
        connection.close()
    assert all(count == BATCH for count in per_step.values()), per_step
    return per_step


@pytest.mark.timeout(180)
def test_kill_inside_a_transaction_leaves_no_partial_batch(tmp_path: Path) -> None:
    db = tmp_path / "verdicts.sqlite"
    process, marker = start_writer(tmp_path, db, pause_step=2)
    wait_for(marker, process)
    assert Path(str(db) + "-wal").stat().st_size > 0  # the uncommitted batch sits in the WAL
    kill(process)
    per_step = check_store(db)
    assert sorted(per_step) == [0, 1]  # steps 0 and 1 committed; step 2 was killed mid-transaction
    # the store opens and takes new batches after the crash
    process, marker = start_writer(tmp_path, db, pause_step=4)
    wait_for(marker, process)
    kill(process)
    assert sorted(check_store(db)) == [0, 1, 2, 3]


@pytest.mark.timeout(180)
def test_kills_at_arbitrary_moments(tmp_path: Path) -> None:
    db = tmp_path / "verdicts.sqlite"
    rng = random.Random(5)
    committed = 0
    for _ in range(4):
        process, marker = start_writer(tmp_path, db, pause_step=-1)
        wait_for(Path(str(marker) + ".started"), process)
        time.sleep(rng.uniform(0.05, 0.6))
        kill(process)
        per_step = check_store(db)
        assert len(per_step) > committed  # each writer committed at least its first batch
        committed = len(per_step)
    assert sorted(per_step) == list(range(committed))


def steps_by_run(db: Path) -> dict[str, set[int]]:
    """Integrity, every sample with all its verdict rows, every batch whole; the steps stored per run."""
    connection = sqlite3.connect(db)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        partial = connection.execute(
            "SELECT s.id FROM samples s LEFT JOIN criterion_verdicts c ON c.sample_row = s.id "
            "GROUP BY s.id HAVING COUNT(c.id) != s.n_criteria"
        ).fetchall()
        assert partial == []
        rows = connection.execute(
            "SELECT r.name, s.step, COUNT(*) FROM samples s JOIN runs r ON r.id = s.run_id GROUP BY r.name, s.step"
        ).fetchall()
    finally:
        connection.close()
    assert all(count == BATCH for _, _, count in rows), rows
    stored: dict[str, set[int]] = {}
    for name, step, _ in rows:
        stored.setdefault(name, set()).add(step)
    return stored


@pytest.mark.timeout(240)
def test_two_writers_killed_at_arbitrary_moments_lose_no_acknowledged_batch(tmp_path: Path) -> None:
    db = tmp_path / "verdicts.sqlite"
    rng = random.Random(28)
    acks = {name: tmp_path / f"{name}.acks" for name in ("w0", "w1")}
    kills = 0
    for _ in range(6):
        writers = {name: start_writer(tmp_path, db, -1, name, acks[name]) for name in acks}
        for process, marker in writers.values():
            wait_for(Path(str(marker) + ".started"), process)
        for process, _ in writers.values():  # each at its own arbitrary moment
            time.sleep(rng.uniform(0.0, 0.4))
            kill(process)
            kills += 1
        stored = steps_by_run(db)
        for name, path in acks.items():
            acknowledged = {int(line) for line in path.read_text().split()}
            assert acknowledged and acknowledged <= stored.get(name, set()), name  # none acknowledged was lost
    assert kills == 12
