"""Read side of the verdict store: typed rows for the report, `judgerl inspect` and the monitors' replay."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from judgerl.errors import JudgerlError


@dataclass(frozen=True)
class RunInfo:
    id: int
    name: str
    kind: str
    config: dict[str, Any]
    rubric: list[dict[str, Any]] | None
    judgerl_version: str
    started: float
    finished: float | None


@dataclass(frozen=True)
class StoredCriterion:
    criterion: str
    p_pass: float | None
    passed: bool | None
    threshold: float | None
    rationale: str | None
    unscored_reason: str | None
    rationale_consistent: bool | None = None
    rationale_dropped: str | None = None


@dataclass(frozen=True)
class StoredSample:
    row: int
    step: int
    source: str
    sample_id: str
    prompt_hash: str
    prompt: str
    response: str
    reference: str | None
    response_chars: int
    response_tokens: int | None
    reward: float | None
    score: float | None
    gate_failed: str | None
    unscored_reason: str | None
    judge_model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    checks: dict[str, float | None]
    metadata: dict[str, Any]
    criteria: list[StoredCriterion] = field(default_factory=list)
    cascade_stage: int | None = None

    @property
    def length(self) -> int:
        """The response length the monitors use: policy tokens when recorded, else characters."""
        return self.response_tokens if self.response_tokens is not None else self.response_chars

    def verdict(self, criterion: str) -> StoredCriterion | None:
        return next((c for c in self.criteria if c.criterion == criterion), None)


@dataclass(frozen=True)
class StoredPair:
    row: int
    step: int
    pair_id: str
    prompt: str
    response_a: str
    response_b: str
    p_a: float | None
    winner: str | None
    consistent: bool | None
    p_a_first_order: float | None
    p_a_second_order: float | None
    first_order_pick: str | None
    second_order_pick: str | None
    rationale: str | None
    unscored_reason: str | None
    judge_model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cascade_stage: int | None = None
    rationale_dropped: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    step: int
    kind: str
    name: str
    value: float | None
    threshold: float | None
    message: str | None


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


_SAMPLE_COLUMNS = (
    "s.id AS row, s.step, s.source, s.sample_id, s.prompt_hash, p.text AS prompt, s.response, s.reference, "
    "s.response_chars, s.response_tokens, s.reward, s.score, s.gate_failed, s.unscored_reason, s.judge_model, "
    "s.prompt_tokens, s.completion_tokens, s.latency_s, s.checks, s.metadata, s.cascade_stage"
)


class StoreQueries:
    """Queries mixed into VerdictStore; ``_query`` runs SQL under the store's lock."""

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    # ---- runs ----------------------------------------------------------------------------------------

    def runs(self) -> list[RunInfo]:
        return [
            RunInfo(
                id=r["id"],
                name=r["name"],
                kind=r["kind"],
                config=_loads(r["config"]) or {},
                rubric=_loads(r["rubric"]),
                judgerl_version=r["judgerl_version"],
                started=r["started"],
                finished=r["finished"],
            )
            for r in self._query("SELECT * FROM runs ORDER BY id")
        ]

    def resolve_run(self, name_or_id: str | int | None = None) -> RunInfo:
        """A run by name or id. None picks the latest training run, so the evaluations `judgerl eval` stores in
        a run's folder after training do not hide it; a store without one (`judgerl judge --store`, the reward
        server) gives its latest run."""
        runs = self.runs()
        if not runs:
            raise JudgerlError(f"{getattr(self, 'path', 'store')}: the verdict store holds no runs yet")
        if name_or_id is None:
            training = [run for run in runs if run.kind == "train"]
            return (training or runs)[-1]
        for run in runs:
            if run.name == str(name_or_id) or str(run.id) == str(name_or_id):
                return run
        names = ", ".join(f"{r.name} (id {r.id})" for r in runs)
        raise JudgerlError(f"{getattr(self, 'path', 'store')}: no run '{name_or_id}'; stored runs: {names}")

    def criteria_names(self, run: RunInfo) -> list[str]:
        """The rubric's criteria in rubric order, then any others the verdicts name."""
        names = [c["name"] for c in run.rubric or []]
        rows = self._query(
            "SELECT c.criterion, MIN(c.id) AS first FROM criterion_verdicts c JOIN samples s ON s.id = c.sample_row "
            "WHERE s.run_id = ? GROUP BY c.criterion ORDER BY first",
            (run.id,),
        )
        return names + [r["criterion"] for r in rows if r["criterion"] not in names]

    def steps(self, run_id: int, source: str = "policy") -> list[int]:
        rows = self._query(
            "SELECT step FROM samples WHERE run_id = ? AND source = ? UNION "
            "SELECT step FROM pairs WHERE run_id = ? AND source = ? ORDER BY step",
            (run_id, source, run_id, source),
        )
        return [r["step"] for r in rows]

    # ---- per-step aggregates -------------------------------------------------------------------------

    def criterion_step_counts(self, run_id: int, source: str = "policy") -> list[sqlite3.Row]:
        """(step, criterion, n, n_pass, n_fail, n_unscored, mean_p_pass) rows."""
        return self._query(
            "SELECT s.step, c.criterion, COUNT(*) AS n, SUM(c.passed = 1) AS n_pass, SUM(c.passed = 0) AS n_fail, "
            "SUM(c.passed IS NULL) AS n_unscored, AVG(c.p_pass) AS mean_p_pass "
            "FROM criterion_verdicts c JOIN samples s ON s.id = c.sample_row "
            "WHERE s.run_id = ? AND s.source = ? GROUP BY s.step, c.criterion ORDER BY s.step",
            (run_id, source),
        )

    def sample_numbers(self, run_id: int, source: str = "policy") -> list[sqlite3.Row]:
        """The numeric columns of every sample (no text): for distributions and monitors."""
        return self._query(
            "SELECT id AS row, step, prompt_hash, reward, score, response_chars, response_tokens, latency_s, "
            "prompt_tokens, completion_tokens, unscored_reason IS NOT NULL AS unscored, checks "
            "FROM samples WHERE run_id = ? AND source = ? ORDER BY step, id",
            (run_id, source),
        )

    def verdict_matrix(self, run_id: int, source: str = "policy") -> list[sqlite3.Row]:
        """(sample row, criterion, passed) for every criterion verdict of the run."""
        return self._query(
            "SELECT c.sample_row AS row, c.criterion, c.passed FROM criterion_verdicts c "
            "JOIN samples s ON s.id = c.sample_row WHERE s.run_id = ? AND s.source = ? ORDER BY c.id",
            (run_id, source),
        )

    def unscored_reasons(self, run_id: int, limit: int = 10) -> list[tuple[str, int]]:
        rows = self._query(
            "SELECT unscored_reason, COUNT(*) AS n FROM samples WHERE run_id = ? AND unscored_reason IS NOT NULL "
            "GROUP BY unscored_reason ORDER BY n DESC LIMIT ?",
            (run_id, limit),
        )
        return [(r["unscored_reason"], r["n"]) for r in rows]

    # ---- samples with text ---------------------------------------------------------------------------

    def samples(
        self,
        run_id: int,
        *,
        source: str = "policy",
        rows: Sequence[int] | None = None,
        step_range: tuple[int, int] | None = None,
    ) -> list[StoredSample]:
        """Samples with their prompt, response and criterion verdicts (by db row ids or a step range)."""
        where, params = "s.run_id = ? AND s.source = ?", list[Any]([run_id, source])
        if step_range is not None:
            where += " AND s.step BETWEEN ? AND ?"
            params += list(step_range)
        found: list[sqlite3.Row] = []
        if rows is None:
            found = self._query(f"SELECT {_SAMPLE_COLUMNS} FROM samples s JOIN prompts p ON p.hash = s.prompt_hash "
                                f"WHERE {where} ORDER BY s.step, s.id", params)  # fmt: skip
        else:
            for start in range(0, len(rows), 500):  # stay under SQLite's parameter limit
                chunk = list(rows[start : start + 500])
                marks = ",".join("?" * len(chunk))
                found += self._query(
                    f"SELECT {_SAMPLE_COLUMNS} FROM samples s JOIN prompts p ON p.hash = s.prompt_hash "
                    f"WHERE {where} AND s.id IN ({marks})",
                    [*params, *chunk],
                )
            found.sort(key=lambda r: (r["step"], r["row"]))
        return self._with_criteria(found)

    def _with_criteria(self, found: list[sqlite3.Row]) -> list[StoredSample]:
        verdicts: dict[int, list[StoredCriterion]] = {r["row"]: [] for r in found}
        ids = list(verdicts)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for c in self._query(f"SELECT * FROM criterion_verdicts WHERE sample_row IN ({marks}) ORDER BY id", chunk):
                verdicts[c["sample_row"]].append(
                    StoredCriterion(
                        criterion=c["criterion"],
                        p_pass=c["p_pass"],
                        passed=_bool(c["passed"]),
                        threshold=c["threshold"],
                        rationale=c["rationale"],
                        unscored_reason=c["unscored_reason"],
                        rationale_consistent=_bool(c["rationale_consistent"]),
                        rationale_dropped=c["rationale_dropped"],
                    )
                )
        return [
            StoredSample(
                row=r["row"],
                step=r["step"],
                source=r["source"],
                sample_id=r["sample_id"],
                prompt_hash=r["prompt_hash"],
                prompt=r["prompt"],
                response=r["response"],
                reference=r["reference"],
                response_chars=r["response_chars"],
                response_tokens=r["response_tokens"],
                reward=r["reward"],
                score=r["score"],
                gate_failed=r["gate_failed"],
                unscored_reason=r["unscored_reason"],
                judge_model=r["judge_model"],
                prompt_tokens=r["prompt_tokens"],
                completion_tokens=r["completion_tokens"],
                latency_s=r["latency_s"],
                checks=_loads(r["checks"]) or {},
                metadata=_loads(r["metadata"]) or {},
                criteria=verdicts[r["row"]],
                cascade_stage=r["cascade_stage"],
            )
            for r in found
        ]

    def worst_samples(
        self, run_id: int, criterion: str | None, step: int | None, window: int = 0, limit: int = 10
    ) -> list[StoredSample]:
        """The lowest-scoring samples for a criterion (failures first, lowest P(pass) first) or by reward, around a
        step; unscored ones come last."""
        where, params = "s.run_id = ? AND s.source = 'policy'", list[Any]([run_id])
        if step is not None:
            where += " AND s.step BETWEEN ? AND ?"
            params += [step - window, step + window]
        if criterion is None:
            order_sql = (
                f"SELECT s.id AS row FROM samples s WHERE {where} "
                "ORDER BY s.reward IS NULL, s.reward ASC, s.step, s.id LIMIT ?"
            )
        else:
            where += " AND c.criterion = ?"
            params.append(criterion)
            order_sql = (
                f"SELECT s.id AS row FROM samples s JOIN criterion_verdicts c ON c.sample_row = s.id WHERE {where} "
                "ORDER BY c.passed IS NULL, c.passed ASC, COALESCE(c.p_pass, c.passed) ASC, s.step, s.id LIMIT ?"
            )
        rows = [r["row"] for r in self._query(order_sql, [*params, limit])]
        by_row = {s.row: s for s in self.samples(run_id, rows=rows)}
        return [by_row[r] for r in rows if r in by_row]

    def samples_by_id(self, run_id: int, sample_id: str, source: str = "policy") -> list[StoredSample]:
        """Every recorded sample with this sample id (one per step it was judged at)."""
        rows = self._query(
            "SELECT id FROM samples WHERE run_id = ? AND sample_id = ? AND source = ? ORDER BY step, id",
            (run_id, sample_id, source),
        )
        return self.samples(run_id, source=source, rows=[r["id"] for r in rows])

    def failure_rationales(self, run_id: int, criterion: str) -> list[sqlite3.Row]:
        """(row, step, rationale) of every failed verdict of a criterion that carries a rationale."""
        return self._query(
            "SELECT s.id AS row, s.step, c.rationale FROM criterion_verdicts c JOIN samples s ON s.id = c.sample_row "
            "WHERE s.run_id = ? AND s.source = 'policy' AND c.criterion = ? AND c.passed = 0 "
            "AND c.rationale IS NOT NULL AND TRIM(c.rationale) != '' ORDER BY s.step, s.id",
            (run_id, criterion),
        )

    # ---- pairs and events ----------------------------------------------------------------------------

    def pairs(self, run_id: int, source: str = "policy") -> list[StoredPair]:
        rows = self._query(
            "SELECT q.*, p.text AS prompt FROM pairs q JOIN prompts p ON p.hash = q.prompt_hash "
            "WHERE q.run_id = ? AND q.source = ? ORDER BY q.step, q.id",
            (run_id, source),
        )
        return [
            StoredPair(
                row=r["id"],
                step=r["step"],
                pair_id=r["pair_id"],
                prompt=r["prompt"],
                response_a=r["response_a"],
                response_b=r["response_b"],
                p_a=r["p_a"],
                winner=r["winner"],
                consistent=_bool(r["consistent"]),
                p_a_first_order=r["p_a_first_order"],
                p_a_second_order=r["p_a_second_order"],
                first_order_pick=r["first_order_pick"],
                second_order_pick=r["second_order_pick"],
                rationale=r["rationale"],
                unscored_reason=r["unscored_reason"],
                judge_model=r["judge_model"],
                prompt_tokens=r["prompt_tokens"],
                completion_tokens=r["completion_tokens"],
                latency_s=r["latency_s"],
                cascade_stage=r["cascade_stage"],
                rationale_dropped=r["rationale_dropped"],
            )
            for r in rows
        ]

    def events(self, run_id: int, kind: str | None = None) -> list[StoredEvent]:
        sql, params = "SELECT * FROM events WHERE run_id = ?", list[Any]([run_id])
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        return [
            StoredEvent(r["step"], r["kind"], r["name"], r["value"], r["threshold"], r["message"])
            for r in self._query(sql + " ORDER BY step, id", params)
        ]

    def cascade_stages(self, run_id: int) -> list[sqlite3.Row]:
        """(kind, cascade_stage, judge_model, n): how many of a run's verdicts each stage of a judge cascade
        decided; empty for a run judged without one."""
        return self._query(
            "SELECT 'sample' AS kind, cascade_stage, judge_model, COUNT(*) AS n FROM samples "
            "WHERE run_id = ?1 AND source = 'policy' AND cascade_stage IS NOT NULL "
            "GROUP BY cascade_stage, judge_model UNION ALL "
            "SELECT 'pair' AS kind, cascade_stage, judge_model, COUNT(*) AS n FROM pairs "
            "WHERE run_id = ?1 AND cascade_stage IS NOT NULL GROUP BY cascade_stage, judge_model "
            "ORDER BY kind DESC, cascade_stage",
            (run_id,),
        )

    def counts(self, run_id: int) -> dict[str, int]:
        row = self._query(
            "SELECT (SELECT COUNT(*) FROM samples WHERE run_id = ?1 AND source = 'policy') AS samples, "
            "(SELECT COUNT(*) FROM samples WHERE run_id = ?1 AND source = 'anchor') AS anchors, "
            "(SELECT COUNT(*) FROM pairs WHERE run_id = ?1) AS pairs, "
            "(SELECT COUNT(*) FROM events WHERE run_id = ?1 AND kind = 'warning') AS warnings",
            (run_id,),
        )[0]
        return {key: row[key] for key in row.keys()}  # noqa: SIM118 - sqlite3.Row has keys(), no iteration
