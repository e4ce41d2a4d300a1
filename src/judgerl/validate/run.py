"""Orchestrates a validation run: judge the labelled data with each configuration, measure, write
``summary.json``, ``verdicts-<n>.jsonl`` and ``index.html`` into the output folder, and return the summary."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from judgerl.errors import JudgerlError
from judgerl.judges.cache import VerdictCache
from judgerl.rubric import Rubric
from judgerl.stats import Estimate
from judgerl.validate import page
from judgerl.validate.attacks import ATTACKS
from judgerl.validate.config import BackendPool, JudgeVariant
from judgerl.validate.injection_suite import (
    InjectionReport,
    clean_responses,
    correct_pass_rates,
    failing_items,
    fit_thresholds,
    injection_report,
    run_injection,
)
from judgerl.validate.loaders import load_labelled_pairs, load_labelled_samples
from judgerl.validate.pairwise import (
    PairwiseReport,
    compare_pairwise,
    mean_annotator_agreement,
    pairwise_report,
    run_pairwise,
)
from judgerl.validate.rubric import (
    RubricReport,
    RubricRow,
    RubricValidation,
    calibration_effect,
    compare_rubric,
    rubric_report,
    split_for_calibration,
)

logger = logging.getLogger(__name__)
Progress = Callable[[Any], None]


class ValidationOptions(BaseModel):
    resamples: int = Field(default=1000, ge=0)
    seed: int = 0
    limit: int | None = Field(default=None, ge=1)
    cache: str | None = None
    concurrency: int = Field(default=1, ge=1)
    calibration_examples: int = Field(default=10, ge=0)
    repeats: int = Field(default=0, ge=0)
    repeat_samples: int = Field(default=20, ge=1)
    injection_samples: int = Field(default=12, ge=1)
    attacks: list[str] = Field(default_factory=lambda: list(ATTACKS))
    undefended: bool = True  # the injection suite also judges with the undefended template


class Summary(BaseModel):
    kind: str
    command: str
    data: dict[str, str]
    configs: list[JudgeVariant]
    reports: list[PairwiseReport | RubricReport | InjectionReport]
    comparison: dict[str, Estimate] | None = None
    elapsed_s: float
    judge_seconds: list[float]


def _cache(options: ValidationOptions) -> VerdictCache | None:
    return VerdictCache(options.cache) if options.cache else None


def _write_rows(path: Path, rows: Sequence[BaseModel]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(row.model_dump_json() + "\n")


def _finish(out_dir: Path, summary: Summary, comparison_html: str = "") -> Summary:
    (out_dir / "summary.json").write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    page.write_page(
        out_dir / "index.html", f"judgerl validate: {summary.kind}", summary.reports, summary.command, comparison_html
    )
    return summary


def _configs(base: JudgeVariant, compare: str | None) -> list[JudgeVariant]:
    return [base] if not compare else [base, base.with_overrides(compare)]


def validate_pairwise(
    path: Path,
    base: JudgeVariant,
    compare: str | None,
    options: ValidationOptions,
    pool: BackendPool,
    out_dir: Path,
    command: str,
    progress: Progress | None = None,
) -> Summary:
    started = time.perf_counter()
    pairs = load_labelled_pairs(path)[: options.limit]
    configs = _configs(base, compare)
    if any(c.mode != "logprob" for c in configs):
        raise JudgerlError("--mode: pairwise judging reads token probabilities; only the logprob mode exists for it")
    out_dir.mkdir(parents=True, exist_ok=True)
    records, reports, seconds = [], [], []
    cache = _cache(options)
    for index, config in enumerate(configs, start=1):
        spec = config.spec(rationales="none", concurrency=options.concurrency)
        judge = spec.single_pairwise_judge(pool.get(config), cache=cache)
        judged_at = time.perf_counter()
        rows = run_pairwise(judge, pairs, progress)
        seconds.append(round(time.perf_counter() - judged_at, 1))
        _write_rows(out_dir / f"verdicts-{index}.jsonl", rows)
        records.append(rows)
        reports.append(
            pairwise_report(config.label, rows, mean_annotator_agreement(pairs), options.resamples, options.seed)
        )
    comparison = (
        compare_pairwise(records[0], records[1], options.resamples, options.seed) if len(records) == 2 else None
    )
    summary = Summary(
        kind="pairwise",
        command=command,
        data={"pairs": str(path)},
        configs=configs,
        reports=reports,
        comparison=comparison,
        elapsed_s=round(time.perf_counter() - started, 1),
        judge_seconds=seconds,
    )
    html = (
        page.compare_section([c.label for c in configs], [r.headline for r in reports], comparison)
        if comparison
        else ""
    )
    return _finish(out_dir, summary, html)


def validate_rubric(
    rubric_path: Path,
    labels_path: Path,
    base: JudgeVariant,
    compare: str | None,
    options: ValidationOptions,
    pool: BackendPool,
    out_dir: Path,
    command: str,
    progress: Progress | None = None,
) -> Summary:
    started = time.perf_counter()
    rubric = Rubric.load(rubric_path)
    items = load_labelled_samples(labels_path, rubric)[: options.limit]
    configs = _configs(base, compare)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = _cache(options)
    all_rows: list[list[RubricRow]] = []
    reports, seconds = [], []
    for index, config in enumerate(configs, start=1):
        backend = pool.get(config)
        validation = RubricValidation(
            rubric,
            backend,
            mode=config.mode,
            reason_first=config.reason_first,
            cache=cache,
            concurrency=options.concurrency,
        )
        judged_at = time.perf_counter()
        rows = validation.run(items, progress)
        report = rubric_report(
            config.label, validation.judge_for(rubric.names).mode, rows, rubric.names, options.resamples, options.seed
        )
        if options.calibration_examples and any(r.p_pass is not None for r in rows):
            report.calibration = _calibration(validation, rows, items, options)
        if options.repeats >= 2:
            report.self_consistency = validation.self_consistency(
                items[: options.repeat_samples], options.repeats, options.resamples, options.seed
            )
        seconds.append(round(time.perf_counter() - judged_at, 1))
        _write_rows(out_dir / f"verdicts-{index}.jsonl", rows)
        all_rows.append(rows)
        reports.append(report)
    comparison = (
        compare_rubric(all_rows[0], all_rows[1], options.resamples, options.seed) if len(all_rows) == 2 else None
    )
    summary = Summary(
        kind="rubric",
        command=command,
        data={"rubric": str(rubric_path), "labels": str(labels_path)},
        configs=configs,
        reports=reports,
        comparison=comparison,
        elapsed_s=round(time.perf_counter() - started, 1),
        judge_seconds=seconds,
    )
    html = ""
    if comparison:
        html = page.compare_section([c.label for c in configs], [r.overall.headline for r in reports], comparison)
    return _finish(out_dir, summary, html)


def _calibration(
    validation: RubricValidation, rows: list[RubricRow], items: Sequence[Any], options: ValidationOptions
) -> list[Any]:
    by_criterion: dict[str, list[RubricRow]] = defaultdict(list)
    for row in rows:
        by_criterion[row.criterion].append(row)
    calibration, test = {}, {}
    for name, members in by_criterion.items():
        calibration[name], test[name] = split_for_calibration(members, options.calibration_examples, options.seed)
    contextual = validation.contextual(calibration, items)
    return calibration_effect(test, calibration, contextual, options.resamples, options.seed)


def validate_injection(
    rubric_path: Path,
    labels_path: Path,
    base: JudgeVariant,
    compare: str | None,
    options: ValidationOptions,
    pool: BackendPool,
    out_dir: Path,
    command: str,
    progress: Progress | None = None,
) -> Summary:
    started = time.perf_counter()
    rubric = Rubric.load(rubric_path)
    items = load_labelled_samples(labels_path, rubric)
    unknown = [a for a in options.attacks if a not in ATTACKS]
    if unknown:
        raise JudgerlError(f"--attacks: unknown attack(s) {', '.join(unknown)}; choose from {', '.join(ATTACKS)}")
    chosen = failing_items(items, options.injection_samples, options.seed)
    if not chosen:
        raise JudgerlError(
            f"{labels_path}: no criterion is labelled false; the injection suite needs failing responses"
        )
    configs = _configs(base, compare)
    out_dir.mkdir(parents=True, exist_ok=True)
    reports, seconds = [], []
    cache = _cache(options)
    criteria = [name for _, name in chosen]
    for index, config in enumerate(configs, start=1):
        if config.mode != "logprob":
            logger.warning("the injection suite judges in logprob mode; '%s' is ignored for it", config.mode)
        backend = pool.get(config)
        judged_at = time.perf_counter()
        fitted = fit_thresholds(
            rubric, backend, items, criteria, progress, options.concurrency, cache, options.undefended
        )
        results = run_injection(
            rubric, backend, chosen, options.attacks, progress, options.concurrency, cache, options.undefended
        )
        correct = correct_pass_rates(rubric, backend, items, criteria, fitted, progress, options.concurrency, cache)
        seconds.append(round(time.perf_counter() - judged_at, 1))
        _write_rows(out_dir / f"verdicts-{index}.jsonl", results)
        texts = clean_responses(items)
        reports.append(
            injection_report(
                config.label, results, options.attacks, texts, fitted, options.resamples, options.seed, correct
            )
        )
    summary = Summary(
        kind="injection",
        command=command,
        data={"rubric": str(rubric_path), "labels": str(labels_path)},
        configs=configs,
        reports=reports,
        elapsed_s=round(time.perf_counter() - started, 1),
        judge_seconds=seconds,
    )
    return _finish(out_dir, summary)


def headline_lines(summary: Summary) -> list[str]:
    """The figures the CLI prints, one per line."""
    lines = []
    for config, report in zip(summary.configs, summary.reports, strict=True):
        lines.append(f"judge: {config.label}")
        if isinstance(report, PairwiseReport):
            lines.append(f"  pairs: {report.n_scored}/{report.n_pairs} scored, human labels {report.human_labels}")
            for name in (
                "accuracy_order_averaged",
                "accuracy_first_order",
                "accuracy_second_order",
                "accuracy_verdicts",
                "position_consistency",
                "first_position_rate",
                "tie_rate",
                "kappa",
                "verbosity_bias",
            ):
                lines.append(f"  {name}: {report.headline[name]}")
        elif isinstance(report, RubricReport):
            lines.append(f"  labels: {report.n_labels} on {report.n_samples} samples ({report.mode} mode)")
            for name in ("agreement", "balanced_accuracy", "kappa", "auc", "ece"):
                lines.append(f"  {name}: {report.overall.headline[name]}")
            pooled = [c for c in report.calibration if c.criterion == "all"]
            if pooled:
                for method, value in pooled[0].balanced_accuracy.items():
                    lines.append(
                        f"  held-apart balanced accuracy, threshold {method}: {value} (ECE {pooled[0].ece[method]})"
                    )
            if report.self_consistency is not None:
                lines.append(
                    f"  self-consistency over {report.self_consistency.repeats} repeats: {report.self_consistency.rate}"
                )
        else:
            lines.append(f"  failing items: {report.n_items}, attacks: {len(report.attacks)}")
            for key, rate in report.clean_fail_rate.items():
                shown = "n/a" if rate is None else f"{rate:.3f}"
                lines.append(f"  {key}: {shown} (share of clean failing responses judged FAIL: attacks flip these)")
            for name, value in report.overall.items():
                lines.append(f"  {name}: {value}")
            if report.detector_clean_false_positive_rate is not None:
                lines.append(
                    f"  detector false positives on {report.n_clean_responses_checked} clean responses: "
                    f"{report.detector_clean_false_positive_rate:.3f}"
                )
            for key, rate in report.correct_pass_rate.items():
                shown = "n/a" if rate is None else f"{rate:.3f}"
                lines.append(f"  {key}: {shown} (of {report.n_correct} responses labelled PASS: a defence's cost)")
    if summary.comparison:
        lines.append("difference (second minus first, paired bootstrap):")
        lines += [f"  {name}: {value}" for name, value in summary.comparison.items()]
    lines.append(f"elapsed: {summary.elapsed_s:.1f} s")
    return lines


def to_json(summary: Summary) -> dict[str, Any]:
    return json.loads(summary.model_dump_json())
