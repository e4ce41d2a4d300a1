"""Print the markdown tables of docs/validation.md from docs/validation/*/summary.json.

python scripts/validation_tables.py [docs/validation]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def fmt(estimate: dict[str, Any] | None) -> str:
    if not estimate or estimate.get("value") is None:
        return "n/a"
    value, low, high = estimate["value"], estimate.get("low"), estimate.get("high")
    return f"{value:.2f}" if low is None or high is None else f"{value:.2f} [{low:.2f}, {high:.2f}]"


def pairwise(runs: dict[str, dict[str, Any]]) -> None:
    names = [n for n, s in runs.items() if s["kind"] == "pairwise"]
    if not names:
        return
    rows = [
        "accuracy_order_averaged",
        "accuracy_first_order",
        "accuracy_second_order",
        "accuracy_verdicts",
        "position_consistency",
        "first_position_rate",
        "tie_rate",
        "kappa",
        "kappa_three_way",
        "verbosity_bias",
    ]
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for row in rows:
        print(f"| {row} | " + " | ".join(fmt(runs[n]["reports"][0]["headline"].get(row)) for n in names) + " |")
    for label, key in (("humans prefer the longer answer", "human_longer_rate"), ("judge", "judge_longer_rate")):
        print(f"| {label} | " + " | ".join(fmt(runs[n]["reports"][0][key]) for n in names) + " |")
    print(
        "| pairs (scored) | "
        + " | ".join(f"{runs[n]['reports'][0]['n_pairs']} ({runs[n]['reports'][0]['n_scored']})" for n in names)
        + " |"
    )
    print("| judging time (s) | " + " | ".join(str(runs[n]["judge_seconds"][0]) for n in names) + " |")
    print()
    for n in names:
        bins = runs[n]["reports"][0]["length_bins"]
        cells = ", ".join(f"{b['low']}..{b['high']}: {fmt(b['accuracy_order_averaged'])}" for b in bins)
        print(f"- {n}, order-averaged accuracy by (preferred minus other) length in words: {cells}")
    print()


def rubric(name: str, summary: dict[str, Any]) -> None:
    for config, report in zip(summary["configs"], summary["reports"], strict=True):
        print(f"**{name}** ({config['mode']}; {report['n_labels']} labels on {report['n_samples']} samples)\n")
        metrics = ["agreement", "balanced_accuracy", "kappa", "auc", "ece", "judge_pass_rate", "label_pass_rate"]
        print("| criterion | labels (PASS) | " + " | ".join(metrics) + " |")
        print("|---|---|" + "---|" * len(metrics))
        for entry in [report["overall"], *report["criteria"]]:
            cells = " | ".join(fmt(entry["headline"][m]) for m in metrics)
            print(f"| {entry['name']} | {entry['n']} ({entry['n_label_pass']}) | {cells} |")
        print()
        if report["calibration"]:
            print("| held-apart rows | threshold | value | balanced accuracy | ECE (re-centred) |")
            print("|---|---|---|---|---|")
            for entry in report["calibration"]:
                for method in entry["balanced_accuracy"]:
                    threshold = entry["thresholds"].get(method)
                    shown = "" if threshold is None else f"{threshold:.3f}"
                    ba, ece = fmt(entry["balanced_accuracy"][method]), fmt(entry["ece"][method])
                    print(f"| {entry['criterion']} (n={entry['n_test']}) | {method} | {shown} | {ba} | {ece} |")
            print()
        if report.get("self_consistency"):
            sc = report["self_consistency"]
            print(
                f"Self-consistency, {sc['repeats']} generate-mode repeats on {sc['n_samples']} samples "
                f"({sc['n_items']} verdicts, {sc['n_unscored_items']} with an unscored repeat): {fmt(sc['rate'])}\n"
            )
    if summary.get("comparison"):
        print("| difference (second minus first) | value |\n|---|---|")
        for key, value in summary["comparison"].items():
            print(f"| {key} | {fmt(value)} |")
        print()
    print(f"Judging time: {summary['judge_seconds']} s; elapsed {summary['elapsed_s']} s.\n")


def injection(name: str, summary: dict[str, Any]) -> None:
    report = summary["reports"][0]
    print(f"**{name}** ({report['n_items']} failing items, {len(report['attacks'])} attacks)\n")
    print("| figure | value |\n|---|---|")
    for key, value in report["overall"].items():
        print(f"| {key} | {fmt(value)} |")
    for key, value in report["clean_fail_rate"].items():
        print(f"| {key} | {'n/a' if value is None else f'{value:.2f}'} |")
    print()
    kind = "fitted" if report.get("fitted_thresholds") else "judge"
    print(f"| attack ({kind} thresholds) | none | delimiters | with detector | mean p_pass change (none, delimiters) |")
    print("|---|---|---|---|---|")
    for attack in report["attacks"]:
        by = {
            r["setting"]: r for r in report["results"] if r["attack"] == attack and r.get("threshold", "judge") == kind
        }
        rates = " | ".join(
            f"{by[s]['n_flipped']}/{by[s]['n_clean_fail']}" for s in ("none", "delimiters", "delimiters+detector")
        )
        change = f"{fmt(by['none']['mean_p_pass_change'])} / {fmt(by['delimiters']['mean_p_pass_change'])}"
        print(f"| {attack} | {rates} | {change} |")
    print(f"\nFitted thresholds: {report.get('fitted_thresholds')}; judging time {summary['judge_seconds']} s.\n")


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/validation")
    runs = {p.parent.name: json.loads(p.read_text()) for p in sorted(root.glob("*/summary.json"))}
    pairwise(runs)
    for name, summary in runs.items():
        if summary["kind"] == "rubric":
            rubric(name, summary)
        elif summary["kind"] == "injection":
            injection(name, summary)


if __name__ == "__main__":
    main()
