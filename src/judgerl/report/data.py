"""Everything the report shows, read from the verdict store into arrays and rows (no plotting, no HTML)."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from judgerl.monitors import HackingMonitor, MonitorConfig, MonitorResult
from judgerl.report.clusters import RationaleCluster, cluster_rationales
from judgerl.store import RunInfo, StoredEvent, StoredPair, StoredSample, VerdictStore
from judgerl.train.selection import Selection
from judgerl.verdicts import CriterionVerdict, SampleVerdict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CriterionInfo:
    name: str
    text: str = ""
    weight: float | None = None
    gate: bool = False


@dataclass(frozen=True)
class PassRates:
    """One criterion over steps: pass rate among scored verdicts, and counts."""

    steps: np.ndarray
    pass_rate: np.ndarray
    scored: np.ndarray
    unscored: np.ndarray
    mean_p_pass: np.ndarray


@dataclass(frozen=True)
class CriterionFailures:
    criterion: str
    failures: int
    with_rationale: int
    clusters: list[RationaleCluster]
    cluster_rows: list[list[int]]  # per cluster, the store rows of its samples
    cluster_steps: list[tuple[int, int]]  # per cluster, the first and last step it was seen at


@dataclass
class SampleColumns:
    """Per-sample numbers, aligned arrays (NaN for unscored rewards)."""

    step: np.ndarray
    reward: np.ndarray
    length: np.ndarray
    length_unit: str
    latency: np.ndarray
    prompt_tokens: np.ndarray
    completion_tokens: np.ndarray
    unscored: np.ndarray


@dataclass
class MonitorView:
    """Monitor warnings and metric series: as recorded during training, or replayed from the store."""

    source: str  # "recorded" (the monitors ran live) or "replayed"
    warnings: list[StoredEvent]
    series: dict[str, tuple[list[int], list[float]]]
    stops: list[StoredEvent] = field(default_factory=list)  # the run stopped early (monitors.stop_on_warning)


@dataclass
class ReportData:
    run: RunInfo
    store_path: str
    counts: dict[str, int]
    criteria: list[CriterionInfo]
    steps: list[int]
    pass_rates: dict[str, PassRates]
    columns: SampleColumns | None
    unscored_reasons: list[tuple[str, int]]
    failures: list[CriterionFailures]
    monitor: MonitorView
    pairs: list[StoredPair]
    browser_samples: list[StoredSample]
    browser_total: int
    config: dict[str, Any] = field(default_factory=dict)
    # judge_gate_labels.json and judge_gate.json beside the store: the judge's validation before step 1
    gates: list[dict[str, Any]] = field(default_factory=list)
    #: RUN_DIR/reward_thresholds.json: the run was paid the judge's verdict at these thresholds (pass_fail_at_gate)
    reward_thresholds: dict[str, float] | None = None
    # per step from the trainer's metrics.jsonl beside the store: (step, step seconds, share waiting for the judge)
    step_times: list[tuple[int, float, float]] = field(default_factory=list)
    # selection-*.json beside the store (`judgerl select`): the checkpoint kept on validation prompts
    selections: list[Selection] = field(default_factory=list)
    # a judge cascade: (kind, stage, judge model, verdicts that stage decided); empty without one
    cascade_stages: list[tuple[str, int, str, int]] = field(default_factory=list)

    @property
    def is_pairwise(self) -> bool:
        return bool(self.pairs) and self.columns is None

    @property
    def single_step(self) -> bool:
        return len(self.steps) <= 1


def monitor_config_of(run_config: dict[str, Any]) -> MonitorConfig:
    """The monitor thresholds a run was trained with (its config's 'monitors' section), else the defaults."""
    section = run_config.get("monitors") if isinstance(run_config, dict) else None
    if isinstance(section, dict):  # a training config's section adds anchors, master_keys, stop_on_warning
        section = {k: v for k, v in section.items() if k in MonitorConfig.model_fields}
    try:
        return MonitorConfig.model_validate(section or {})
    except ValidationError:
        logger.warning("run config's 'monitors' section is not a MonitorConfig; using default thresholds")
        return MonitorConfig()


def load_report_data(
    store: VerdictStore, run_name: str | None = None, *, max_samples: int = 2000, max_clusters: int = 8
) -> ReportData:
    run = store.resolve_run(run_name)
    names = store.criteria_names(run)
    rubric = {c["name"]: c for c in run.rubric or []}
    criteria = [
        CriterionInfo(name, spec.get("text", ""), spec.get("weight"), bool(spec.get("gate", False)))
        for name, spec in ((n, rubric.get(n, {})) for n in names)
    ]
    columns = _sample_columns(store, run.id)
    failures = [_failures(store, run.id, name, max_clusters) for name in names]
    total = store.counts(run.id)["samples"]
    return ReportData(
        run=run,
        store_path=str(store.path),
        counts=store.counts(run.id),
        criteria=criteria,
        steps=store.steps(run.id),
        pass_rates=_pass_rates(store, run.id),
        columns=columns,
        unscored_reasons=store.unscored_reasons(run.id),
        failures=failures,
        monitor=_monitor_view(store, run.id, monitor_config_of(run.config)),
        pairs=store.pairs(run.id),
        browser_samples=_browser_samples(store, run.id, total, max_samples, failures),
        browser_total=total,
        config=run.config,
        cascade_stages=[
            (r["kind"], r["cascade_stage"], r["judge_model"], r["n"]) for r in store.cascade_stages(run.id)
        ],
    )


def _pass_rates(store: VerdictStore, run_id: int) -> dict[str, PassRates]:
    by_criterion: dict[str, list[Any]] = defaultdict(list)
    for row in store.criterion_step_counts(run_id):
        by_criterion[row["criterion"]].append(row)
    rates = {}
    for name, rows in by_criterion.items():
        scored = np.array([(r["n_pass"] or 0) + (r["n_fail"] or 0) for r in rows], dtype=float)
        passed = np.array([r["n_pass"] or 0 for r in rows], dtype=float)
        rates[name] = PassRates(
            steps=np.array([r["step"] for r in rows]),
            pass_rate=np.divide(passed, scored, out=np.full_like(passed, np.nan), where=scored > 0),
            scored=scored,
            unscored=np.array([r["n_unscored"] or 0 for r in rows], dtype=float),
            mean_p_pass=np.array([np.nan if r["mean_p_pass"] is None else r["mean_p_pass"] for r in rows]),
        )
    return rates


def _sample_columns(store: VerdictStore, run_id: int) -> SampleColumns | None:
    rows = store.sample_numbers(run_id)
    if not rows:
        return None
    tokens = [r["response_tokens"] for r in rows]
    use_tokens = all(t is not None for t in tokens)
    return SampleColumns(
        step=np.array([r["step"] for r in rows]),
        reward=np.array([np.nan if r["reward"] is None else r["reward"] for r in rows], dtype=float),
        length=np.array(tokens if use_tokens else [r["response_chars"] for r in rows], dtype=float),
        length_unit="tokens" if use_tokens else "characters",
        latency=np.array([r["latency_s"] for r in rows], dtype=float),
        prompt_tokens=np.array([r["prompt_tokens"] for r in rows], dtype=float),
        completion_tokens=np.array([r["completion_tokens"] for r in rows], dtype=float),
        unscored=np.array([bool(r["unscored"]) for r in rows]),
    )


def _failures(store: VerdictStore, run_id: int, criterion: str, max_clusters: int) -> CriterionFailures:
    rows = store.failure_rationales(run_id, criterion)
    failed = sum(int(r["n_fail"] or 0) for r in store.criterion_step_counts(run_id) if r["criterion"] == criterion)
    clusters = cluster_rationales([r["rationale"] for r in rows], max_clusters=max_clusters)
    return CriterionFailures(
        criterion=criterion,
        failures=failed,
        with_rationale=len(rows),
        clusters=clusters,
        cluster_rows=[[rows[i]["row"] for i in c.members] for c in clusters],
        cluster_steps=[(rows[c.members[0]]["step"], rows[c.members[-1]]["step"]) for c in clusters],
    )


def _browser_samples(
    store: VerdictStore, run_id: int, total: int, cap: int, failures: list[CriterionFailures]
) -> list[StoredSample]:
    """All samples when they fit; else an even spread over the run plus each failure group's representative."""
    if total <= cap:
        return store.samples(run_id)
    numbers = store.sample_numbers(run_id)
    chosen = {numbers[int(i)]["row"] for i in np.linspace(0, len(numbers) - 1, cap).round()}
    for criterion in failures:
        for rows in criterion.cluster_rows:
            chosen.update(rows[:3])
    return store.samples(run_id, rows=sorted(chosen))


def _monitor_view(store: VerdictStore, run_id: int, config: MonitorConfig) -> MonitorView:
    events = store.events(run_id)
    if events:
        series: dict[str, tuple[list[int], list[float]]] = {}
        for event in events:
            if event.kind == "metric" and event.value is not None:
                steps, values = series.setdefault(event.name, ([], []))
                steps.append(event.step)
                values.append(event.value)
        warnings = [e for e in events if e.kind == "warning"]
        return MonitorView("recorded", warnings, series, [e for e in events if e.kind == "stop"])
    return replay_monitors(store, run_id, HackingMonitor(config))


def replay_monitors(store: VerdictStore, run_id: int, monitor: HackingMonitor | None = None) -> MonitorView:
    """Run the hacking monitors over a stored run, step by step, as the trainer would have."""
    monitor = monitor or HackingMonitor()
    numbers = store.sample_numbers(run_id)
    patterns: dict[int, dict[str, bool | None]] = defaultdict(dict)
    for row in store.verdict_matrix(run_id):
        patterns[row["row"]][row["criterion"]] = None if row["passed"] is None else bool(row["passed"])
    by_step: dict[int, list[Any]] = defaultdict(list)
    for row in numbers:
        by_step[row["step"]].append(row)
    results: list[MonitorResult] = []
    for step, rows in sorted(by_step.items()):
        checks: dict[str, list[float | None]] = {}
        for index, row in enumerate(rows):
            for name, value in (json.loads(row["checks"]) if row["checks"] else {}).items():
                checks.setdefault(name, [None] * len(rows))[index] = value
        lengths = [r["response_chars"] if r["response_tokens"] is None else r["response_tokens"] for r in rows]
        results.append(
            monitor.observe_values(
                step,
                lengths=lengths,
                rewards=[r["reward"] for r in rows],
                groups=[r["prompt_hash"] for r in rows],
                judge={"score": [r["score"] for r in rows]},
                checks=checks,
                patterns=[tuple(patterns[r["row"]].values()) for r in rows],
            )
        )
    results += _replay_anchors(store, run_id, monitor)
    pairs_by_step: dict[int, list[StoredPair]] = defaultdict(list)
    for pair in store.pairs(run_id):
        pairs_by_step[pair.step].append(pair)
    for step, pairs in sorted(pairs_by_step.items()):
        results.append(
            monitor.observe_pair_values(
                step,
                length_a=[len(p.response_a) for p in pairs],
                length_b=[len(p.response_b) for p in pairs],
                winners=[p.winner for p in pairs],
                consistent=[p.consistent for p in pairs],
            )
        )
    series: dict[str, tuple[list[int], list[float]]] = {}
    warnings = []
    for result in sorted(results, key=lambda r: r.step):
        for name, value in result.metrics.items():
            steps, values = series.setdefault(name, ([], []))
            steps.append(result.step)
            values.append(value)
        warnings += [
            StoredEvent(w.step, "warning", w.monitor, w.value, w.threshold, w.message) for w in result.warnings
        ]
    return MonitorView("replayed", warnings, series)


def _replay_anchors(store: VerdictStore, run_id: int, monitor: HackingMonitor) -> list[MonitorResult]:
    from judgerl.monitors.anchors import AnchorSample

    anchors = store.samples(run_id, source="anchor")
    if not anchors:
        return []
    by_step: dict[int, list[StoredSample]] = defaultdict(list)
    for sample in anchors:
        by_step[sample.step].append(sample)
    monitor.anchors = [
        AnchorSample(id=s.sample_id, prompt=s.prompt, response=s.response, expected=s.metadata.get("expected", "good"))
        for s in by_step[min(by_step)]
    ]
    return [
        monitor.observe_anchors(step, [as_verdict(s) for s in samples]) for step, samples in sorted(by_step.items())
    ]


def as_verdict(sample: StoredSample) -> SampleVerdict:
    """A stored sample back as the SampleVerdict it was recorded from (enough for the monitors)."""
    return SampleVerdict(
        id=sample.sample_id,
        score=sample.score,
        unscored_reason=sample.unscored_reason,
        judge_model=sample.judge_model,
        criteria=[
            CriterionVerdict(
                name=c.criterion,
                passed=c.passed,
                p_pass=c.p_pass,
                rationale=c.rationale,
                rationale_consistent=c.rationale_consistent,
                rationale_dropped=c.rationale_dropped,
            )
            for c in sample.criteria
        ],
    )
