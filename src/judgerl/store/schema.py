"""The verdict store's schema, as ordered migrations.

``PRAGMA user_version`` holds how many migrations a database has had. Each migration runs in its own
``BEGIN IMMEDIATE`` transaction together with the version bump, so a crash mid-migration leaves the previous
version intact and two processes opening the same new file cannot both apply it. A step is an SQL statement
or a function of the connection (for data that SQL cannot compute, such as hashes). Never edit a released
migration: append a new one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from judgerl.errors import JudgerlError
from judgerl.store.keys import pair_key, sample_key

logger = logging.getLogger(__name__)

Step = str | Callable[[sqlite3.Connection], None]


def _backfill_keys(db: sqlite3.Connection) -> None:
    """Key the rows stored before keys existed. A row whose key an earlier row of its run already has is a
    duplicate from a retried batch: it is kept, unkeyed (nothing stored is deleted by a migration)."""
    for table, key_column, columns, key in (
        ("samples", "sample_key", "sample_id, prompt_hash, response, reference", sample_key),
        ("pairs", "pair_key", "pair_id, prompt_hash, response_a, response_b, reference", pair_key),
    ):
        seen: set[tuple[int, str]] = set()
        updates: list[tuple[str, int]] = []
        duplicates = 0
        for row in db.execute(f"SELECT id, run_id, step, source, {columns} FROM {table} ORDER BY id"):
            row_key = key(*row[2:])
            if (row[1], row_key) in seen:
                duplicates += 1
                continue
            seen.add((row[1], row_key))
            updates.append((row_key, row[0]))
        db.executemany(f"UPDATE {table} SET {key_column} = ? WHERE id = ?", updates)
        if duplicates:
            logger.warning("verdict store: %d %s stored twice before keys existed are kept, unkeyed", duplicates, table)


# One tuple of steps per migration, in order. Statements contain no ';' so none needs splitting.
MIGRATIONS: list[tuple[Step, ...]] = [
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            config TEXT NOT NULL DEFAULT '{}',
            rubric TEXT,
            judgerl_version TEXT NOT NULL,
            started REAL NOT NULL,
            finished REAL
        )""",
        "CREATE TABLE prompts (hash TEXT PRIMARY KEY, text TEXT NOT NULL)",
        # One row per judged response. n_criteria lets a reader verify that all its verdict rows exist.
        """CREATE TABLE samples (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            source TEXT NOT NULL DEFAULT 'policy',
            sample_id TEXT NOT NULL,
            prompt_hash TEXT NOT NULL REFERENCES prompts(hash),
            response TEXT NOT NULL,
            reference TEXT,
            response_chars INTEGER NOT NULL,
            response_tokens INTEGER,
            reward REAL,
            score REAL,
            hard_score REAL,
            gate_failed TEXT,
            unscored_reason TEXT,
            judge_model TEXT NOT NULL,
            mode TEXT,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            latency_s REAL NOT NULL DEFAULT 0,
            truncated INTEGER NOT NULL DEFAULT 0,
            n_criteria INTEGER NOT NULL,
            checks TEXT,
            metadata TEXT,
            raw_reply TEXT,
            created REAL NOT NULL
        )""",
        "CREATE INDEX samples_run_step ON samples(run_id, source, step)",
        """CREATE TABLE criterion_verdicts (
            id INTEGER PRIMARY KEY,
            sample_row INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
            criterion TEXT NOT NULL,
            p_pass REAL,
            passed INTEGER,
            threshold REAL,
            rationale TEXT,
            unscored_reason TEXT,
            cached INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX criterion_verdicts_sample ON criterion_verdicts(sample_row)",
        "CREATE INDEX criterion_verdicts_criterion ON criterion_verdicts(criterion, passed)",
        # A pair judged in both orders; *_pick is the response ('A'/'B') each order preferred.
        """CREATE TABLE pairs (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            source TEXT NOT NULL DEFAULT 'policy',
            pair_id TEXT NOT NULL,
            prompt_hash TEXT NOT NULL REFERENCES prompts(hash),
            response_a TEXT NOT NULL,
            response_b TEXT NOT NULL,
            reference TEXT,
            p_a REAL,
            winner TEXT,
            consistent INTEGER,
            p_a_first_order REAL,
            p_a_second_order REAL,
            first_order_pick TEXT,
            second_order_pick TEXT,
            rationale TEXT,
            unscored_reason TEXT,
            judge_model TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            latency_s REAL NOT NULL DEFAULT 0,
            truncated INTEGER NOT NULL DEFAULT 0,
            metadata TEXT,
            created REAL NOT NULL
        )""",
        "CREATE INDEX pairs_run_step ON pairs(run_id, source, step)",
        # Monitor warnings and metrics recorded during training (kind: 'warning' or 'metric').
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            value REAL,
            threshold REAL,
            message TEXT,
            created REAL NOT NULL
        )""",
        "CREATE INDEX events_run ON events(run_id, kind, step)",
        # One row per criterion verdict with everything about it, for ad-hoc SQL. Samples that failed before
        # any criterion was judged appear once with criterion NULL.
        """CREATE VIEW verdicts AS
            SELECT s.run_id, s.step, s.source, s.sample_id, s.prompt_hash, s.response, c.criterion, c.p_pass,
                   c.passed AS verdict, c.rationale, s.judge_model, s.prompt_tokens, s.completion_tokens,
                   s.latency_s, COALESCE(c.unscored_reason, s.unscored_reason) AS unscored_reason
            FROM samples s LEFT JOIN criterion_verdicts c ON c.sample_row = s.id""",
    ),
    # 2: idempotency keys (store/keys.py), so a retried batch does not store its samples twice.
    (
        "ALTER TABLE samples ADD COLUMN sample_key TEXT",
        "ALTER TABLE pairs ADD COLUMN pair_key TEXT",
        _backfill_keys,
        "CREATE UNIQUE INDEX samples_key ON samples(run_id, sample_key)",
        "CREATE UNIQUE INDEX pairs_key ON pairs(run_id, pair_key)",
    ),
    # 3: the stage of a judge cascade that decided each verdict (NULL without a cascade)
    (
        "ALTER TABLE samples ADD COLUMN cascade_stage INTEGER",
        "ALTER TABLE pairs ADD COLUMN cascade_stage INTEGER",
    ),
    # 4: whether a rationale argues for its verdict (judgerl.judges.rationales; NULL when unchecked)
    ("ALTER TABLE criterion_verdicts ADD COLUMN rationale_consistent INTEGER",),
    # 5: why a generated rationale was dropped as garbage (judgerl.judges.garbage; NULL when kept or not asked)
    (
        "ALTER TABLE criterion_verdicts ADD COLUMN rationale_dropped TEXT",
        "ALTER TABLE pairs ADD COLUMN rationale_dropped TEXT",
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite3.Connection) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(db: sqlite3.Connection, path: str, migrations: list[tuple[Step, ...]] | None = None) -> int:
    """Apply the migrations this database lacks; returns the resulting version. ``db`` is in autocommit mode."""
    migrations = MIGRATIONS if migrations is None else migrations
    current = schema_version(db)
    if current > len(migrations):
        raise JudgerlError(
            f"{path}: verdict store schema version {current} is newer than this judgerl understands "
            f"({len(migrations)}); upgrade judgerl to read it"
        )
    for target in range(current + 1, len(migrations) + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) >= target:  # another process migrated while we waited for the lock
                db.execute("COMMIT")
                continue
            for step in migrations[target - 1]:
                if isinstance(step, str):
                    db.execute(step)
                else:
                    step(db)
            db.execute(f"PRAGMA user_version = {target:d}")
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise JudgerlError(f"{path}: verdict store migration {target} failed and was rolled back: {exc}") from exc
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return schema_version(db)
