"""VerdictStore: every verdict the judges give, with its rationale, tokens, latency and training step.

SQLite in WAL mode. Each ``record_*`` call writes one batch in one transaction, so a process killed with
SIGKILL mid-write leaves either the whole batch or none of it (WAL frames without a commit are ignored on the
next open). Thread-safe within a process; several processes may write (busy timeout) and readers never block
the writer, so ``judgerl report`` works while training runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from judgerl.errors import JudgerlError
from judgerl.rubric import Rubric
from judgerl.samples import PairSample, Prompt, Sample, clean_text, prompt_text
from judgerl.store.keys import pair_key, sample_key
from judgerl.store.queries import StoreQueries
from judgerl.store.schema import migrate
from judgerl.verdicts import PairVerdict, SampleVerdict

logger = logging.getLogger(__name__)

RunKind = Literal["train", "judge", "serve", "eval"]
Source = Literal["policy", "anchor"]
CheckValue = float | bool | None


def prompt_hash(prompt: Prompt) -> str:
    """Stable id of a prompt's text: samples in one GRPO group share it."""
    return hashlib.sha256(prompt_text(prompt).encode("utf-8", "replace")).hexdigest()[:32]


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)


def _finite(value: float | None) -> float | None:
    """NaN/inf become NULL: an unscored reward is a missing value, not a number."""
    return None if value is None or not math.isfinite(value) else float(value)


def _check_value(value: CheckValue) -> float | None:
    if value is None:
        return None
    return _finite(float(value))


def _metadata(sample: Sample) -> dict[str, Any] | None:
    """The sample's metadata, plus the expected verdict of an anchor (so a report can replay the anchors)."""
    expected = getattr(sample, "expected", None)
    metadata = {**sample.metadata, "expected": expected} if expected is not None else sample.metadata
    return metadata or None


def _pick(p_a: float | None) -> str | None:
    if p_a is None:
        return None
    return "A" if p_a > 0.5 else "B" if p_a < 0.5 else "tie"


def _set_wal(db: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch to WAL. SQLite answers "database is locked" at once, without its busy handler, while another
    process opens or migrates the same new file (every training process opens the store), so wait and retry."""
    for attempt in range(attempts):
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 + 0.01 * attempt)


class VerdictStore(StoreQueries):
    """Open (creating and migrating as needed) the store at ``path``.

    ``readonly``: open an existing store, never create one (reports, inspection). An older schema is still
    upgraded; a newer one is refused."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise JudgerlError(f"{self.path}: no verdict store here (it is written by training, `judgerl judge`)")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JudgerlError(f"{self.path}: cannot open the verdict store ({exc})") from None
        try:
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._db.execute("PRAGMA foreign_keys = ON")
            if readonly:
                self._check_readable()
            else:
                _set_wal(self._db)
            # In WAL mode NORMAL loses no committed transaction to a process crash, only to power loss.
            self._db.execute("PRAGMA synchronous = NORMAL")
            migrate(self._db, str(self.path))  # a no-op unless the store was written by an older judgerl
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise JudgerlError(f"{self.path}: not a readable verdict store ({exc})") from None
        except BaseException:
            self._db.close()
            raise

    def _check_readable(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "samples" not in tables:
            raise JudgerlError(f"{self.path}: not a judgerl verdict store (no 'samples' table)")

    # ---- connection ----------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> VerdictStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction under the store's lock: everything written inside commits, or none of it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._db.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    # ---- runs ----------------------------------------------------------------------------------------

    def start_run(
        self,
        name: str,
        kind: RunKind,
        config: Mapping[str, Any] | BaseModel | None = None,
        *,
        rubric: Rubric | None = None,
        resume: bool = False,
        unique: bool = False,
    ) -> int:
        """Create a run and return its id. A name already in the store is an error unless ``resume``, which
        returns the existing run (call ``discard_after`` with the checkpoint's step when resuming training), or
        ``unique``, which names the run ``<name>-2``, ``-3``... in the same transaction, so two processes
        storing into one directory at once never collide."""
        from judgerl import __version__

        rubric_json = None
        if rubric is not None:
            rubric_json = _json(
                [{"name": c.name, "text": c.text, "weight": c.weight, "gate": c.gate} for c in rubric.criteria]
            )
        with self._transaction() as db:
            existing = db.execute("SELECT id FROM runs WHERE name = ?", (name,)).fetchone()
            if existing is not None and unique:
                taken = {row[0] for row in db.execute("SELECT name FROM runs WHERE name LIKE ? || '-%'", (name,))}
                suffix = 2
                while f"{name}-{suffix}" in taken:
                    suffix += 1
                name, existing = f"{name}-{suffix}", None
            if existing is not None and not resume:
                raise JudgerlError(
                    f"{self.path}: a run named '{name}' is already stored; pick another name or resume it"
                )
            if existing is not None:
                run_id: int = existing[0]
                db.execute("UPDATE runs SET finished = NULL WHERE id = ?", (run_id,))
                return run_id
            cursor = db.execute(
                "INSERT INTO runs (name, kind, config, rubric, judgerl_version, started) VALUES (?, ?, ?, ?, ?, ?)",
                (name, kind, _json(config) or "{}", rubric_json, __version__, time.time()),
            )
            created = int(cursor.lastrowid or 0)
        logger.info("verdict store %s: run '%s' (%s) is run %d", self.path, name, kind, created)
        return created

    def finish_run(self, run_id: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), run_id))

    def discard_after(self, run_id: int, step: int) -> int:
        """Delete what was recorded after ``step`` (training resumed from a checkpoint at that step), and any
        early stop (the run goes on); returns how many verdicts (samples and pairs) were removed."""
        removed = 0
        with self._transaction() as db:
            for table in ("samples", "pairs", "events"):
                cursor = db.execute(f"DELETE FROM {table} WHERE run_id = ? AND step > ?", (run_id, step))
                removed += cursor.rowcount if table != "events" else 0
            db.execute("DELETE FROM events WHERE run_id = ? AND kind = 'stop'", (run_id,))
        return removed

    # ---- verdicts ------------------------------------------------------------------------------------

    def record_samples(
        self,
        run_id: int,
        step: int,
        samples: Sequence[Sample],
        verdicts: Sequence[SampleVerdict],
        *,
        rewards: Sequence[float | None] | None = None,
        response_tokens: Sequence[int | None] | None = None,
        checks: Sequence[Mapping[str, CheckValue]] | None = None,
        source: Source = "policy",
    ) -> int:
        """Record one batch of rubric verdicts (one transaction); returns how many samples were stored.

        ``rewards``: the reward the trainer used when it differs from the verdict's score (penalties, checks);
        ``response_tokens``: the policy's token counts; ``checks``: independent check results per sample
        (name -> value in [0, 1]) that the hacking monitor compares with the judge.

        Idempotent per sample (store/keys.py): a sample already stored in this run at this step, with the same
        id and texts, is not stored again (a retried batch), unless the stored one is unscored and the new one
        scored, which then replaces it."""
        n = len(samples)
        for label, values in (("verdicts", verdicts), ("rewards", rewards), ("response_tokens", response_tokens)):
            if values is not None and len(values) != n:
                raise ValueError(f"record_samples: {len(values)} {label} for {n} samples")
        if checks is not None and len(checks) != n:
            raise ValueError(f"record_samples: {len(checks)} check rows for {n} samples")
        now = time.time()
        prompt_rows: dict[str, str] = {}
        sample_rows: list[tuple[Any, ...]] = []
        verdict_rows: list[tuple[Any, ...]] = []
        for index, (sample, verdict) in enumerate(zip(samples, verdicts, strict=True)):
            key = prompt_hash(sample.prompt)
            prompt_rows[key] = prompt_text(sample.prompt)
            reward = verdict.score if rewards is None else rewards[index]
            check_row = None if checks is None else {k: _check_value(v) for k, v in checks[index].items()}
            sample_rows.append(
                (
                    run_id, step, source, sample.id, key, sample.response, sample.reference,
                    len(sample.response), None if response_tokens is None else response_tokens[index],
                    _finite(reward), _finite(verdict.score), _finite(verdict.hard_score), verdict.gate_failed,
                    verdict.unscored_reason, verdict.judge_model, verdict.mode, verdict.prompt_tokens,
                    verdict.completion_tokens, verdict.latency_s, int(verdict.truncated), len(verdict.criteria),
                    _json(check_row), _json(_metadata(sample)), verdict.raw_reply, verdict.cascade_stage, now,
                    sample_key(step, source, sample.id, key, sample.response, sample.reference),
                )
            )  # fmt: skip
            verdict_rows.append(
                tuple(
                    (
                        c.name, _finite(c.p_pass), None if c.passed is None else int(c.passed), c.threshold,
                        None if c.rationale is None else clean_text(c.rationale), c.unscored_reason, int(c.cached),
                        None if c.rationale_consistent is None else int(c.rationale_consistent),
                        c.rationale_dropped,
                    )
                    for c in verdict.criteria
                )
            )  # fmt: skip
        stored = 0
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO prompts (hash, text) VALUES (?, ?)", list(prompt_rows.items()))
            for row, verdict, criteria in zip(sample_rows, verdicts, verdict_rows, strict=True):
                if not self._replaceable(db, run_id, row[-1], verdict.scored):
                    continue
                cursor = db.execute(
                    "INSERT INTO samples (run_id, step, source, sample_id, prompt_hash, response, reference, "
                    "response_chars, response_tokens, reward, score, hard_score, gate_failed, unscored_reason, "
                    "judge_model, mode, prompt_tokens, completion_tokens, latency_s, truncated, n_criteria, "
                    "checks, metadata, raw_reply, cascade_stage, created, sample_key) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                stored += 1
                db.executemany(
                    "INSERT INTO criterion_verdicts (sample_row, criterion, p_pass, passed, threshold, "
                    "rationale, unscored_reason, cached, rationale_consistent, rationale_dropped) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(cursor.lastrowid, *criterion) for criterion in criteria],
                )
        return stored

    @staticmethod
    def _replaceable(db: sqlite3.Connection, run_id: int, key: str, scored: bool) -> bool:
        """Whether a sample with this key may be inserted: none is stored yet, or the stored one is unscored
        and this one scored (it is then deleted, its criterion rows with it)."""
        existing = db.execute(
            "SELECT id, score IS NULL AND unscored_reason IS NOT NULL FROM samples WHERE run_id = ? AND sample_key = ?",
            (run_id, key),
        ).fetchone()
        if existing is None:
            return True
        if scored and existing[1]:
            db.execute("DELETE FROM samples WHERE id = ?", (existing[0],))
            return True
        return False

    def record_pairs(
        self,
        run_id: int,
        step: int,
        pairs: Sequence[PairSample],
        verdicts: Sequence[PairVerdict],
        *,
        source: Source = "policy",
    ) -> int:
        """Record one batch of pairwise verdicts, with both orders' outcomes (one transaction); returns how many
        pairs were stored. Idempotent per pair like ``record_samples`` (a retried pair is not stored again)."""
        if len(pairs) != len(verdicts):
            raise ValueError(f"record_pairs: {len(verdicts)} verdicts for {len(pairs)} pairs")
        now = time.time()
        prompt_rows: dict[str, str] = {}
        rows: list[tuple[Any, ...]] = []
        for pair, verdict in zip(pairs, verdicts, strict=True):
            key = prompt_hash(pair.prompt)
            prompt_rows[key] = prompt_text(pair.prompt)
            consistent = None if verdict.consistent is None else int(verdict.consistent)
            rows.append(
                (
                    run_id, step, source, pair.id, key, pair.response_a, pair.response_b, pair.reference,
                    _finite(verdict.p_a), verdict.winner, consistent, _finite(verdict.p_a_first_order),
                    _finite(verdict.p_a_second_order), _pick(verdict.p_a_first_order),
                    _pick(verdict.p_a_second_order), verdict.rationale, verdict.unscored_reason,
                    verdict.judge_model, verdict.prompt_tokens, verdict.completion_tokens, verdict.latency_s,
                    int(verdict.truncated), _json(pair.metadata or None), verdict.cascade_stage, now,
                    pair_key(step, source, pair.id, key, pair.response_a, pair.response_b, pair.reference),
                    verdict.rationale_dropped,
                )
            )  # fmt: skip
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO prompts (hash, text) VALUES (?, ?)", list(prompt_rows.items()))
            before = db.total_changes
            # a pair already stored under its key (a retried batch) is kept as it was
            db.executemany(
                "INSERT OR IGNORE INTO pairs (run_id, step, source, pair_id, prompt_hash, response_a, response_b, "
                "reference, p_a, winner, consistent, p_a_first_order, p_a_second_order, first_order_pick, "
                "second_order_pick, rationale, unscored_reason, judge_model, prompt_tokens, "
                "completion_tokens, latency_s, truncated, metadata, cascade_stage, created, pair_key, "
                "rationale_dropped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?)",
                rows,
            )
            return int(db.total_changes - before)

    def record_events(
        self,
        run_id: int,
        step: int,
        *,
        metrics: Mapping[str, float | None] | None = None,
        warnings: Sequence[tuple[str, str, float | None, float | None]] = (),
    ) -> None:
        """Record monitor metrics (name -> value) and warnings (monitor, message, value, threshold)."""
        now = time.time()
        rows: list[tuple[Any, ...]] = [
            (run_id, step, "metric", name, _finite(value), None, None, now)
            for name, value in (metrics or {}).items()
            if _finite(value) is not None
        ]
        rows += [
            (run_id, step, "warning", name, _finite(value), _finite(threshold), message, now)
            for name, message, value, threshold in warnings
        ]
        if rows:
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO events (run_id, step, kind, name, value, threshold, message, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

    def record_stop(self, run_id: int, step: int, name: str, reason: str) -> None:
        """Record that training stopped early at ``step`` (``name``: what stopped it), with the reason."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO events (run_id, step, kind, name, value, threshold, message, created) "
                "VALUES (?, ?, 'stop', ?, NULL, NULL, ?, ?)",
                (run_id, step, name, reason, time.time()),
            )
