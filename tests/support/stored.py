"""Reading back what training stored in the verdict store (``judgerl.store``: tables runs / samples /
criterion_verdicts) straight from SQLite, so a test also sees what a reader outside judgerl would."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass
class StoredCriterion:
    name: str
    p_pass: float | None
    passed: bool | None
    rationale: str | None


@dataclass
class StoredSample:
    step: int
    sample_id: str
    response: str
    scored: bool
    unscored_reason: str | None
    judge_model: str
    criteria: list[StoredCriterion]


def stored_samples(path: Path, run: str) -> list[StoredSample]:
    """Every stored sample of the run named ``run``, ordered by step and sample id."""
    db = sqlite3.connect(str(path))
    try:
        run_ids = [row[0] for row in db.execute("SELECT id FROM runs WHERE name = ?", (run,))]
        if not run_ids:
            return []
        found = []
        rows = db.execute(
            "SELECT rowid, step, sample_id, response, score, unscored_reason, judge_model FROM samples "
            "WHERE run_id = ? ORDER BY step, sample_id",
            (run_ids[0],),
        ).fetchall()
        for rowid, step, sample_id, response, score, reason, model in rows:
            criteria = [
                StoredCriterion(name, p_pass, None if passed is None else bool(passed), rationale)
                for name, p_pass, passed, rationale in db.execute(
                    "SELECT criterion, p_pass, passed, rationale FROM criterion_verdicts WHERE sample_row = ?", (rowid,)
                )
            ]
            found.append(StoredSample(step, sample_id, response, score is not None, reason, model or "", criteria))
        return found
    finally:
        db.close()


def stored_steps(path: Path, run: str) -> list[int]:
    return sorted({sample.step for sample in stored_samples(path, run)})


def run_finished(path: Path, run: str) -> bool:
    """Whether the run named ``run`` was marked finished (a killed run is not)."""
    db = sqlite3.connect(str(path))
    try:
        row = db.execute("SELECT finished FROM runs WHERE name = ?", (run,)).fetchone()
    finally:
        db.close()
    assert row is not None, f"no run {run!r} in {path}"
    return row[0] is not None
