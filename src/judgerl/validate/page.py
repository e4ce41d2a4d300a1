"""The validation HTML page: one self-contained file (tables, and matplotlib plots as base64 PNG).

Kept apart from the measurements so it can be swapped for the project's report module: everything here reads
the pydantic reports and writes HTML, nothing else. matplotlib is optional (the ``report`` extra); without it
the page has the tables and says the plots were left out.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judgerl.stats import Estimate
from judgerl.validate.injection_suite import SETTINGS, InjectionReport
from judgerl.validate.pairwise import PairwiseReport
from judgerl.validate.rubric import RubricReport

logger = logging.getLogger(__name__)
Report = PairwiseReport | RubricReport | InjectionReport

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.6em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:0.92em}
img{max-width:100%;border:1px solid #eee;margin:0.4em 0}h2{border-bottom:1px solid #ddd;padding-bottom:3px}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _fmt(estimate: Estimate | None) -> str:
    if estimate is None or estimate.value is None:
        return "n/a"
    interval = "" if estimate.low is None or estimate.high is None else f" [{estimate.low:.3f}, {estimate.high:.3f}]"
    return f"{estimate.value:.3f}{interval}"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _plt() -> Any | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    figure.clear()
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{encoded}">'


def _errorbars(estimates: Sequence[Estimate]) -> tuple[list[float], list[list[float]]]:
    values = [e.value if e.value is not None else float("nan") for e in estimates]
    lows = [
        max(0.0, v - e.low) if e.low is not None and e.value is not None else 0.0
        for v, e in zip(values, estimates, strict=True)
    ]
    highs = [
        max(0.0, e.high - v) if e.high is not None and e.value is not None else 0.0
        for v, e in zip(values, estimates, strict=True)
    ]
    return values, [lows, highs]


def _headline_table(headline: dict[str, Estimate]) -> str:
    return _table(["figure", "value [95% CI]", "n"], [(k, _fmt(v), v.n) for k, v in headline.items()])


# ---- sections --------------------------------------------------------------------------------------------


def pairwise_section(report: PairwiseReport) -> str:
    parts = [
        f"<h2>Pairwise: {_e(report.judge)}</h2>",
        f"<p>{report.n_scored} of {report.n_pairs} pairs scored; human labels {_e(report.human_labels)}.</p>",
        _headline_table(report.headline),
        "<p class='note'>Order 1 shows the pair as labelled, order 2 swapped. verbosity_bias = share of decisions "
        "for the longer answer, judge minus humans (positive: the judge prefers longer answers more than people do). "
        f"Humans prefer the longer answer {_fmt(report.human_longer_rate)}, "
        f"the judge {_fmt(report.judge_longer_rate)}.</p>",
    ]
    bins = report.length_bins
    parts.append(
        _table(
            ["preferred minus other length (words)", "pairs", "order-averaged accuracy [95% CI]"],
            [(f"{b.low} .. {b.high}", b.accuracy_order_averaged.n, _fmt(b.accuracy_order_averaged)) for b in bins],
        )
    )
    plt = _plt()
    if plt is not None and bins:
        figure, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        names = [
            "accuracy_first_order",
            "accuracy_second_order",
            "accuracy_order_averaged",
            "position_consistency",
            "first_position_rate",
        ]
        values, errors = _errorbars([report.headline[n] for n in names])
        axes[0].bar(range(len(names)), values, yerr=errors, color="#4c78a8", capsize=3)
        axes[0].set_xticks(range(len(names)), [n.replace("_", "\n") for n in names], fontsize=7)
        axes[0].axhline(0.5, color="grey", lw=0.8, ls="--")
        axes[0].set_ylim(0, 1)
        axes[0].set_title("headline figures (95% CI)")
        values, errors = _errorbars([b.accuracy_order_averaged for b in bins])
        axes[1].errorbar(range(len(bins)), values, yerr=errors, marker="o", capsize=3)
        axes[1].set_xticks(range(len(bins)), [f"{b.low}..{b.high}" for b in bins], fontsize=8)
        axes[1].axhline(0.5, color="grey", lw=0.8, ls="--")
        axes[1].set_ylim(0, 1)
        axes[1].set_xlabel("preferred minus other answer length (words)")
        axes[1].set_title("order-averaged accuracy by length difference")
        parts.append(_png(figure))
        plt.close(figure)
    return "\n".join(parts)


def rubric_section(report: RubricReport) -> str:
    parts = [
        f"<h2>Rubric: {_e(report.judge)} ({_e(report.mode)} mode)</h2>",
        f"<p>{report.n_labels} labels on {report.n_samples} samples.</p>",
    ]
    names = ["agreement", "balanced_accuracy", "kappa", "auc", "ece", "judge_pass_rate", "label_pass_rate"]
    rows = []
    for entry in [report.overall, *report.criteria]:
        rows.append(
            [entry.name, entry.n, entry.n_label_pass, entry.n_unscored] + [_fmt(entry.headline[n]) for n in names]
        )
    parts.append(_table(["criterion", "labels", "label PASS", "unscored", *names], rows))
    confusion_rows = []
    for entry in [report.overall, *report.criteria]:
        c = entry.confusion
        confusion_rows.append(
            [
                entry.name,
                c.true_pass_judged_pass,
                c.true_pass_judged_fail,
                c.true_fail_judged_pass,
                c.true_fail_judged_fail,
            ]
        )
    parts.append("<h3>Confusion matrices</h3>")
    parts.append(
        _table(
            ["criterion", "PASS judged PASS", "PASS judged FAIL", "FAIL judged PASS", "FAIL judged FAIL"],
            confusion_rows,
        )
    )
    if report.calibration:
        parts.append("<h3>Calibration on held-apart rows</h3>")
        cal_rows = []
        for calibrated in report.calibration:
            for method in calibrated.balanced_accuracy:
                threshold = calibrated.thresholds.get(method)
                cal_rows.append(
                    [
                        calibrated.criterion,
                        method,
                        "" if threshold is None else f"{threshold:.3f}",
                        calibrated.n_calibration,
                        calibrated.n_test,
                        _fmt(calibrated.balanced_accuracy[method]),
                        _fmt(calibrated.ece[method]),
                    ]
                )
        parts.append(
            _table(
                [
                    "criterion",
                    "threshold from",
                    "threshold",
                    "calibration rows",
                    "test rows",
                    "balanced accuracy",
                    "ECE (re-centred p_pass)",
                ],
                cal_rows,
            )
        )
        calibration_plot = _calibration_plot(report)
        if calibration_plot:
            parts.append(calibration_plot)
    if report.self_consistency is not None:
        sc = report.self_consistency
        parts.append("<h3>Self-consistency of repeated generate-mode verdicts</h3>")
        parts.append(
            f"<p>{sc.repeats} repeats with fresh nonces, {sc.n_samples} samples, {sc.n_items} verdict items "
            f"({sc.n_unscored_items} with an unscored repeat, left out): identical every time {_fmt(sc.rate)}.</p>"
        )
        parts.append(
            _table(["criterion", "identical across repeats"], [(k, _fmt(v)) for k, v in sc.per_criterion.items()])
        )
    plt = _plt()
    if plt is not None and report.overall.reliability and any(b.count for b in report.overall.reliability):
        entries = [report.overall, *report.criteria]
        figure, axes = plt.subplots(1, len(entries), figsize=(3.2 * len(entries), 3.2), squeeze=False)
        for axis, entry in zip(axes[0], entries, strict=True):
            used = [b for b in entry.reliability if b.count]
            axis.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
            axis.plot([b.mean_p_pass for b in used], [b.pass_rate for b in used], marker="o")
            for b in used:
                axis.annotate(str(b.count), (b.mean_p_pass or 0, b.pass_rate or 0), fontsize=6)
            axis.set_xlim(0, 1)
            axis.set_ylim(0, 1)
            axis.set_title(f"{entry.name} (ECE {_fmt(entry.headline['ece']).split(' ')[0]})", fontsize=9)
            axis.set_xlabel("mean p_pass in bin", fontsize=8)
        axes[0][0].set_ylabel("share labelled PASS", fontsize=8)
        parts.append("<h3>Reliability (numbers: rows per bin)</h3>" + _png(figure))
        plt.close(figure)
    return "\n".join(parts)


def _calibration_plot(report: RubricReport) -> str:
    """Balanced accuracy and ECE on held-apart rows at each threshold, per criterion and pooled."""
    plt = _plt()
    if plt is None or not report.calibration:
        return ""
    methods = list(report.calibration[0].balanced_accuracy)
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    width = 0.8 / len(methods)
    names = [c.criterion for c in report.calibration]
    for offset, method in enumerate(methods):
        positions = [i + offset * width for i in range(len(names))]
        for axis, metric in ((axes[0], "balanced_accuracy"), (axes[1], "ece")):
            values, errors = _errorbars([getattr(c, metric)[method] for c in report.calibration])
            axis.bar(positions, values, width, yerr=errors, capsize=2, label=method)
    for axis, title in ((axes[0], "balanced accuracy (held-apart)"), (axes[1], "ECE of re-centred p_pass")):
        axis.set_xticks([i + width for i in range(len(names))], names, fontsize=8)
        axis.set_ylim(0, 1)
        axis.set_title(title, fontsize=9)
    axes[0].axhline(0.5, color="grey", lw=0.8, ls="--")
    axes[0].legend(fontsize=7)
    html_image = _png(figure)
    plt.close(figure)
    return html_image


def injection_section(report: InjectionReport) -> str:
    parts = [
        f"<h2>Prompt injection: {_e(report.judge)}</h2>",
        f"<p>{report.n_items} failing (sample, criterion) items, {len(report.attacks)} attacks. Clean FAIL rate by "
        f"setting: {_e({k: None if v is None else round(v, 3) for k, v in report.clean_fail_rate.items()})}. Detector "
        f"false positives on {report.n_clean_responses_checked} clean responses: "
        f"{_rate(report.detector_clean_false_positive_rate)}.</p>",
        _headline_table(report.overall),
    ]
    if report.correct_pass_rate:
        parts.append(
            f"<p>Of {report.n_correct} responses labelled PASS, the share that passes (a defence's cost): "
            f"{_e({k: None if v is None else round(v, 3) for k, v in report.correct_pass_rate.items()})}.</p>"
        )
    if report.fitted_thresholds:
        parts.append(
            "<p class='note'>Fitted thresholds (per setting and criterion, on the whole labelled set): "
            f"{_e(report.fitted_thresholds)}</p>"
        )
    rows = [
        (
            r.attack,
            r.setting,
            r.threshold,
            r.n_clean_fail,
            r.n_flipped,
            _fmt(r.success_rate),
            _fmt(r.mean_p_pass_change),
            "" if r.detected_rate is None else f"{r.detected_rate:.2f}",
        )
        for r in report.results
    ]
    parts.append(
        _table(
            [
                "attack",
                "setting",
                "threshold",
                "clean FAIL",
                "flipped",
                "success rate",
                "mean p_pass change",
                "detected",
            ],
            rows,
        )
    )
    plt = _plt()
    if plt is not None and report.results:
        figure, axis = plt.subplots(figsize=(11, 3.6))
        settings = [s for s in SETTINGS if any(r.setting == s for r in report.results)]
        width = 0.8 / len(settings)
        for offset, setting in enumerate(settings):
            kind = "fitted" if report.fitted_thresholds else "judge"
            chosen = [r for r in report.results if r.setting == setting and r.threshold == kind]
            values, errors = _errorbars([r.success_rate for r in chosen])
            positions = [i + offset * width for i in range(len(chosen))]
            axis.bar(positions, values, width, yerr=errors, capsize=2, label=setting)
        axis.set_xticks(
            [i + width for i in range(len(report.attacks))], [a.replace("_", "\n") for a in report.attacks], fontsize=7
        )
        axis.set_ylim(0, 1)
        axis.set_ylabel("attack success rate" + (" (fitted thresholds)" if report.fitted_thresholds else ""))
        axis.legend(fontsize=8)
        parts.append(_png(figure))
        plt.close(figure)
    return "\n".join(parts)


def compare_section(
    labels: Sequence[str], headlines: Sequence[dict[str, Estimate]], difference: dict[str, Estimate]
) -> str:
    rows = [(name, *(_fmt(h.get(name)) for h in headlines), _fmt(difference[name])) for name in difference]
    return (
        "<h2>Comparison</h2><p class='note'>Difference = second minus first on the same items, with a paired "
        "bootstrap interval.</p>" + _table(["figure", *labels, "difference"], rows)
    )


def write_page(path: Path, title: str, reports: Sequence[Report], command: str, comparison: str = "") -> Path:
    sections = []
    for report in reports:
        if isinstance(report, PairwiseReport):
            sections.append(pairwise_section(report))
        elif isinstance(report, RubricReport):
            sections.append(rubric_section(report))
        else:
            sections.append(injection_section(report))
    if _plt() is None:
        sections.append("<p class='note'>Plots left out: install matplotlib (pip install 'judgerl[report]').</p>")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{_e(title)}</h1><p class='note'>Reproduce: <code>{_e(command)}</code>. Intervals are 95% "
        f"percentile bootstrap intervals.</p>{comparison}{''.join(sections)}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path
