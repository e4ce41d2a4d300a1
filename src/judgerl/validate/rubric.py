"""Rubric judge validation against Boolean labels: per-criterion agreement, balanced accuracy, kappa, confusion
matrix, calibration of p_pass (ECE, reliability), what threshold and contextual calibration change on
held-apart data, and self-consistency of repeated generate-mode verdicts.

Every row of the labelled set is judged only on the criteria it carries labels for. Hard verdicts are the
judge's own (its thresholds: 0.5 unless a calibration file sits beside the rubric). Intervals come from a
bootstrap over samples (all of a sample's criteria move together).
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from judgerl.backends.base import JudgeBackend
from judgerl.judges.cache import VerdictCache
from judgerl.judges.calibration import fit_threshold
from judgerl.judges.prompts import nonce_key
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.judges.spec import JudgeSpec
from judgerl.rubric import Rubric
from judgerl.samples import LabelledSample
from judgerl.stats import (
    Confusion,
    Estimate,
    ReliabilityBin,
    Statistic,
    balanced_accuracy,
    cohen_kappa,
    confusion,
    estimate,
    expected_calibration_error,
    paired_statistic_difference,
    reliability,
    roc_auc,
    select,
    shift_to_threshold,
)
from judgerl.validate.loaders import restrict
from judgerl.validate.thresholds import contextual_thresholds
from judgerl.verdicts import SampleVerdict

Mode = Literal["logprob", "generate"]


class RubricRow(BaseModel):
    """One (sample, criterion) label with the judge's verdict (verdicts.jsonl rows)."""

    model_config = ConfigDict(frozen=True)

    sample_id: str
    criterion: str
    label: bool
    p_pass: float | None
    passed: bool | None
    threshold: float = 0.5
    unscored_reason: str | None = None


class CriterionReport(BaseModel):
    name: str
    n: int
    n_label_pass: int
    n_unscored: int
    headline: dict[str, Estimate]
    confusion: Confusion
    reliability: list[ReliabilityBin]


class CalibrationReport(BaseModel):
    """Hard verdicts on held-apart rows at 0.5, at a threshold fitted on a few labelled rows, and at the
    contextual threshold; ECE of p_pass re-centred on each threshold (metrics.shift_to_threshold)."""

    criterion: str
    n_calibration: int
    n_test: int
    thresholds: dict[str, float | None]
    balanced_accuracy: dict[str, Estimate]
    ece: dict[str, Estimate]


class ConsistencyReport(BaseModel):
    repeats: int
    n_samples: int
    n_items: int
    n_unscored_items: int
    rate: Estimate
    per_criterion: dict[str, Estimate]


class RubricReport(BaseModel):
    kind: str = "rubric"
    judge: str
    mode: str
    n_samples: int
    n_labels: int
    overall: CriterionReport
    criteria: list[CriterionReport]
    calibration: list[CalibrationReport] = []
    self_consistency: ConsistencyReport | None = None


# ---- statistics ------------------------------------------------------------------------------------------


def _scored(rows: Sequence[RubricRow]) -> list[RubricRow]:
    return [r for r in rows if r.passed is not None]


def _row_statistics() -> dict[str, Callable[[list[RubricRow]], float | None]]:
    def agreement(rows: list[RubricRow]) -> float | None:
        rows = _scored(rows)
        return sum(r.passed == r.label for r in rows) / len(rows) if rows else None

    def balanced(rows: list[RubricRow]) -> float | None:
        rows = _scored(rows)
        return balanced_accuracy([bool(r.passed) for r in rows], [r.label for r in rows])

    def kappa(rows: list[RubricRow]) -> float | None:
        rows = _scored(rows)
        return cohen_kappa([bool(r.passed) for r in rows], [r.label for r in rows])

    def auc(rows: list[RubricRow]) -> float | None:
        rows = [r for r in rows if r.p_pass is not None]
        return roc_auc([float(r.p_pass or 0.0) for r in rows], [r.label for r in rows])

    def ece(rows: list[RubricRow]) -> float | None:
        rows = [r for r in rows if r.p_pass is not None]
        return expected_calibration_error([float(r.p_pass or 0.0) for r in rows], [r.label for r in rows])

    def judge_pass_rate(rows: list[RubricRow]) -> float | None:
        rows = _scored(rows)
        return sum(bool(r.passed) for r in rows) / len(rows) if rows else None

    def label_pass_rate(rows: list[RubricRow]) -> float | None:
        return sum(r.label for r in rows) / len(rows) if rows else None

    return {
        "agreement": agreement,
        "balanced_accuracy": balanced,
        "kappa": kappa,
        "auc": auc,
        "ece": ece,
        "judge_pass_rate": judge_pass_rate,
        "label_pass_rate": label_pass_rate,
    }


def _clusters(rows: Sequence[RubricRow]) -> list[list[int]]:
    """Row indices grouped by sample, in first-seen order (the bootstrap resamples samples)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[row.sample_id].append(index)
    return list(groups.values())


def _clustered(
    rows: Sequence[RubricRow], statistic: Callable[[list[RubricRow]], float | None]
) -> tuple[Statistic, int]:
    clusters = _clusters(rows)

    def over_samples(indices: np.ndarray) -> float | None:
        return statistic([rows[i] for c in indices for i in clusters[c]])

    return over_samples, len(clusters)


def criterion_report(name: str, rows: Sequence[RubricRow], resamples: int, seed: int) -> CriterionReport:
    headline = {}
    for stat_name, statistic in _row_statistics().items():
        over_samples, n = _clustered(rows, statistic)
        headline[stat_name] = estimate(over_samples, n, resamples, seed)
    scored = _scored(rows)
    with_p = [r for r in rows if r.p_pass is not None]
    return CriterionReport(
        name=name,
        n=len(rows),
        n_label_pass=sum(r.label for r in rows),
        n_unscored=len(rows) - len(scored),
        headline=headline,
        confusion=confusion([bool(r.passed) for r in scored], [r.label for r in scored]),
        reliability=reliability([float(r.p_pass or 0.0) for r in with_p], [r.label for r in with_p]),
    )


def compare_rubric(
    first: Sequence[RubricRow], second: Sequence[RubricRow], resamples: int = 1000, seed: int = 0
) -> dict[str, Estimate]:
    """second minus first for the pooled headline figures, paired over the same samples."""
    key = {(r.sample_id, r.criterion): i for i, r in enumerate(second)}
    aligned = [second[key[(r.sample_id, r.criterion)]] for r in first]
    out = {}
    for name, statistic in _row_statistics().items():
        a, n = _clustered(first, statistic)
        b, _ = _clustered(aligned, statistic)
        out[name] = paired_statistic_difference(a, b, n, resamples, seed)
    return out


# ---- calibration effect ----------------------------------------------------------------------------------


def split_for_calibration(
    rows: Sequence[RubricRow], examples: int, seed: int
) -> tuple[list[RubricRow], list[RubricRow]]:
    """(calibration, held-apart test) for one criterion: a stratified few-shot calibration set, half of each
    label where the data allows, drawn with a seeded shuffle; every other row is test."""
    usable = [r for r in rows if r.p_pass is not None]
    rng = random.Random(f"{seed}:{rows[0].criterion if rows else ''}")
    by_label = {True: [r for r in usable if r.label], False: [r for r in usable if not r.label]}
    for members in by_label.values():
        rng.shuffle(members)
    want_pass = min(len(by_label[True]), max(examples - len(by_label[False]), math.ceil(examples / 2)))
    want_fail = min(len(by_label[False]), examples - want_pass)
    chosen = by_label[True][:want_pass] + by_label[False][:want_fail]
    ids = {(r.sample_id, r.criterion) for r in chosen}
    return chosen, [r for r in usable if (r.sample_id, r.criterion) not in ids]


def calibration_effect(
    test: dict[str, list[RubricRow]],
    calibration: dict[str, list[RubricRow]],
    contextual: dict[str, float],
    resamples: int,
    seed: int,
) -> list[CalibrationReport]:
    """Per criterion and pooled ("all"): balanced accuracy and ECE on the test rows at each threshold."""
    fitted = {}
    for name, rows in calibration.items():
        if rows:
            fitted[name] = fit_threshold([float(r.p_pass or 0.0) for r in rows], [r.label for r in rows]).threshold
    methods: dict[str, Callable[[str], float | None]] = {
        "default_0.5": lambda name: 0.5,
        "fitted": fitted.get,
        "contextual": contextual.get,
    }

    def report(name: str, rows: list[RubricRow], n_calibration: int) -> CalibrationReport:
        accuracies, eces, thresholds = {}, {}, {}
        for method, threshold_of in methods.items():
            if name != "all":
                thresholds[method] = threshold_of(name)
            if any(threshold_of(r.criterion) is None for r in rows) or not rows:
                accuracies[method] = eces[method] = Estimate(value=None, n=len(rows))
                continue

            def ba(rows: list[RubricRow], threshold_of: Callable[[str], float | None] = threshold_of) -> float | None:
                picks = [float(r.p_pass or 0.0) >= (threshold_of(r.criterion) or 0.5) for r in rows]
                return balanced_accuracy(picks, [r.label for r in rows])

            def ece(rows: list[RubricRow], threshold_of: Callable[[str], float | None] = threshold_of) -> float | None:
                shifted = [shift_to_threshold(float(r.p_pass or 0.0), threshold_of(r.criterion) or 0.5) for r in rows]
                return expected_calibration_error(shifted, [r.label for r in rows])

            for target, statistic in ((accuracies, ba), (eces, ece)):
                over_samples, n = _clustered(rows, statistic)
                target[method] = estimate(over_samples, n, resamples, seed)
        return CalibrationReport(
            criterion=name,
            n_calibration=n_calibration,
            n_test=len(rows),
            thresholds=thresholds,
            balanced_accuracy=accuracies,
            ece=eces,
        )

    reports = [report(name, rows, len(calibration.get(name, []))) for name, rows in test.items()]
    pooled = [r for rows in test.values() for r in rows]
    reports.append(report("all", pooled, sum(len(rows) for rows in calibration.values())))
    return reports


# ---- running the judge -----------------------------------------------------------------------------------


class RubricValidation:
    """Runs one judge configuration over a labelled set."""

    def __init__(
        self,
        rubric: Rubric,
        backend: JudgeBackend,
        *,
        mode: Mode = "logprob",
        reason_first: bool = True,
        cache: VerdictCache | None = None,
        concurrency: int = 1,
    ) -> None:
        self.rubric = rubric
        self.backend = backend
        self.mode: Mode = mode
        self.reason_first = reason_first
        self.cache = cache
        self.concurrency = concurrency

    def judge_for(self, names: Sequence[str], mode: Mode | None = None, cache: bool = True) -> RubricJudge:
        spec = JudgeSpec(
            mode=mode or self.mode, rationales="none", reason_first=self.reason_first, concurrency=self.concurrency
        )
        return spec.single_rubric_judge(
            restrict(self.rubric, tuple(names)), self.backend, cache=self.cache if cache else None
        )

    def _judge_grouped(
        self,
        items: Sequence[LabelledSample],
        mode: Mode | None = None,
        cache: bool = True,
        progress: Callable[[SampleVerdict], None] | None = None,
    ) -> dict[str, SampleVerdict]:
        groups: dict[tuple[str, ...], list[LabelledSample]] = defaultdict(list)
        for item in items:
            groups[tuple(n for n in self.rubric.names if n in item.labels)].append(item)
        verdicts: dict[str, SampleVerdict] = {}
        for names, members in groups.items():
            judged = self.judge_for(names, mode, cache).judge(list(members), progress)
            verdicts.update({v.id: v for v in judged})
        return verdicts

    def run(
        self, items: Sequence[LabelledSample], progress: Callable[[SampleVerdict], None] | None = None
    ) -> list[RubricRow]:
        verdicts = self._judge_grouped(items, progress=progress)
        rows = []
        for item in items:
            verdict = verdicts[item.id]
            by_name = {c.name: c for c in verdict.criteria}
            for name in self.rubric.names:
                if name not in item.labels:
                    continue
                judged = by_name.get(name)
                rows.append(
                    RubricRow(
                        sample_id=item.id,
                        criterion=name,
                        label=item.labels[name],
                        p_pass=judged.p_pass if judged else None,
                        passed=judged.passed if judged else None,
                        threshold=judged.threshold if judged else 0.5,
                        unscored_reason=(judged.unscored_reason if judged else None) or verdict.unscored_reason,
                    )
                )
        return rows

    def contextual(
        self, calibration: dict[str, list[RubricRow]], items: Sequence[LabelledSample], prompts_per_criterion: int = 3
    ) -> dict[str, float]:
        """Contextual thresholds per criterion from content-free responses to prompts of its calibration rows."""
        sample_of = {item.id: item for item in items}
        out = {}
        for name, rows in calibration.items():
            prompts = [sample_of[r.sample_id] for r in rows[:prompts_per_criterion]]
            if prompts:
                thresholds = contextual_thresholds(self.judge_for([name], mode="logprob"), prompts)
                if name in thresholds:
                    out[name] = thresholds[name].threshold
        return out

    def self_consistency(
        self, items: Sequence[LabelledSample], repeats: int, resamples: int, seed: int
    ) -> ConsistencyReport:
        """Judge the items ``repeats`` times in generate mode, each time with a fresh nonce secret (a
        semantically null change of the prompt) and no cache; the share of (sample, criterion) verdicts that
        come out the same every time. Sampling backends add their own randomness on top."""
        runs = []
        for repeat in range(repeats):
            with nonce_key(f"self-consistency-{seed}-{repeat}".encode()):
                runs.append(self._judge_grouped(items, mode="generate", cache=False))
        outcomes: list[tuple[str, str, list[bool | None]]] = []
        for item in items:
            for name in item.labels:
                verdicts = []
                for run in runs:
                    found = [c for c in run[item.id].criteria if c.name == name]
                    verdicts.append(found[0].passed if found else None)
                outcomes.append((item.id, name, verdicts))
        complete = [o for o in outcomes if all(v is not None for v in o[2])]

        def rate_of(rows: list[tuple[str, str, list[bool | None]]]) -> Statistic:
            def rate(indices: np.ndarray) -> float | None:
                picked = select(rows, indices)
                return sum(len(set(o[2])) == 1 for o in picked) / len(picked) if picked else None

            return rate

        per_criterion = {}
        for name in self.rubric.names:
            rows = [o for o in complete if o[1] == name]
            if rows:
                per_criterion[name] = estimate(rate_of(rows), len(rows), resamples, seed)
        return ConsistencyReport(
            repeats=repeats,
            n_samples=len(items),
            n_items=len(outcomes),
            n_unscored_items=len(outcomes) - len(complete),
            rate=estimate(rate_of(complete), len(complete), resamples, seed),
            per_criterion=per_criterion,
        )


def rubric_report(
    judge_label: str,
    mode: str,
    rows: Sequence[RubricRow],
    criteria_order: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
) -> RubricReport:
    by_criterion: dict[str, list[RubricRow]] = defaultdict(list)
    for row in rows:
        by_criterion[row.criterion].append(row)
    return RubricReport(
        judge=judge_label,
        mode=mode,
        n_samples=len({r.sample_id for r in rows}),
        n_labels=len(rows),
        overall=criterion_report("all", rows, resamples, seed),
        criteria=[criterion_report(n, by_criterion[n], resamples, seed) for n in criteria_order if by_criterion[n]],
    )


def unscored_reasons(rows: Sequence[RubricRow]) -> dict[str, int]:
    return dict(Counter((r.unscored_reason or "")[:120] for r in rows if r.passed is None))
