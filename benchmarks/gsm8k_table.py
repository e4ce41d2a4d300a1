"""The BENCHMARKS.md section of the GSM8K RFT runs (benchmarks/rft_gsm8k.py, pre-registered in
benchmarks/rft_preregistered_gsm8k.md), from their files.

Reads benchmarks/results/rft_gsm8k_<reward>-s<seed>.json for each reward and seed, and the held-out solutions of
the judge's and the overlap reward's runs of a seed for their head-to-head change: from the run folders
(RUNS/bench-rft-gsm8k-<reward>-s<seed>/eval/after.jsonl), else the copies rft_gsm8k.py keeps in
results/rft_gsm8k_after/ (a seed's two runs may finish on different machines). Applies the pre-registered bar and
tallies the goal (the judge significantly better than the base and than the overlap reward in at least 2 of 3
seeds). A run whose file is missing is shown as not run. Writes benchmarks/results/rft_gsm8k.json, from which the
section is built.

    python benchmarks/gsm8k_table.py --seeds 601 602 603 --texts TEXTS.json --write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import common
from common import ROOT, gsm8k_after_copy, read_result, significant, write_result, write_section
from judgerl.train.evaluate import compare, load_items

HEADING = "## RFT on GSM8K: a reference-based judge beside a reference-overlap reward (seeds 601-603)"
REWARDS = ("judge", "overlap", "exact")


def run_figures(reward: str, seed: int) -> dict[str, Any]:
    name = f"rft_gsm8k_{reward}-s{seed}"
    if not (common.RESULTS / f"{name}.json").exists():  # read at call time, as read_result and the kept copies do
        return {"ran": False}
    result = read_result(name)
    gate = result.get("judge_gate") or {}
    steps = [t for t in result.get("step_time") or [] if t is not None]
    return {
        "ran": True,
        "by_window": by_window(result),
        "before": result["before"],
        "after": result["after"],
        "change": result["change"]["checker_difference"],
        "p": result["change"]["checker_mcnemar_p"],
        "gate_auc": gate.get("judge_auc"),
        "gate_passed": gate.get("passed"),
        "step_seconds": sum(steps) / len(steps) if steps else None,
        "steps": len(steps),
    }


#: training steps pooled per row of the training table
WINDOWS = ((1, 10), (11, 20), (21, 30))


def by_window(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per window of steps, the means of the training reward, the completion length (tokens) and the share of
    completions cut at the token limit, from the run's logged steps."""
    series = {key: result.get(key) or [] for key in ("reward_per_step", "completion_length", "clipped_ratio")}
    rows = []
    for first, last in WINDOWS:
        row: dict[str, Any] = {"steps": f"{first}-{last}"}
        for key, values in series.items():
            known = [v for v in values[first - 1 : last] if v is not None]
            row[key] = sum(known) / len(known) if known else None
        rows.append(row)
    return rows


def after_solutions(reward: str, seed: int, runs_dir: Path) -> Path:
    """A run's held-out solutions after training: in its run folder, else the copy kept with the results."""
    in_run = runs_dir / f"bench-rft-gsm8k-{reward}-s{seed}" / "eval" / "after.jsonl"
    return in_run if in_run.exists() else gsm8k_after_copy(reward, seed)


def head_to_head(seed: int, runs_dir: Path) -> dict[str, Any] | None:
    """The judge's run against the overlap reward's on the same held-out problems: judge - overlap."""
    files = [after_solutions(reward, seed, runs_dir) for reward in ("overlap", "judge")]
    if not all(path.exists() for path in files):
        return None
    change = compare(load_items(files[0]), load_items(files[1]))
    return {"change": change.checker_difference, "p": change.checker_mcnemar_p, "n": change.prompts}


def build(seeds: list[int], runs_dir: Path, texts: dict[str, Any]) -> dict[str, Any]:
    runs = {str(seed): {reward: run_figures(reward, seed) for reward in REWARDS} for seed in seeds}
    versus = {str(seed): head_to_head(seed, runs_dir) for seed in seeds}
    # a seed whose judge gate failed does not count toward the goal (the pre-registration)
    better_than_base = [
        s
        for s in runs
        if runs[s]["judge"].get("gate_passed")
        and significant(runs[s]["judge"].get("change"), runs[s]["judge"].get("p"))
    ]
    better_than_overlap = [s for s, v in versus.items() if v is not None and significant(v["change"], v["p"])]
    return {
        "seeds": seeds,
        "runs": runs,
        "judge_vs_overlap": versus,
        "judge_better_than_base": better_than_base,
        "judge_better_than_overlap": better_than_overlap,
        "goal_met": len(set(better_than_base) & set(better_than_overlap)) >= 2,
        "texts": texts,
    }


def _percent(figure: dict[str, Any] | None) -> str:
    return "-" if figure is None else f"{figure['rate']:.1%}"


def _window_cell(window: dict[str, Any]) -> str:
    if window["reward_per_step"] is None:
        return "-"
    length, cut = window["completion_length"], window["clipped_ratio"]
    return (
        f"{window['reward_per_step']:.3f} / {'-' if length is None else f'{length:.0f}'} / "
        f"{'-' if cut is None else f'{cut:.0%}'}"
    )


def change_cell(change: dict[str, Any] | None, p: float | None) -> str:
    if change is None or p is None:
        return "-"
    mark = " **better**" if significant(change, p) else " **worse**" if significant(change, p, -1) else ""
    return f"{change['rate']:+.1%} [{change['low']:+.1%}, {change['high']:+.1%}], p {p:.3f}{mark}"


def markdown(result: dict[str, Any]) -> str:
    texts = result.get("texts", {})
    lines = [result.get("heading", HEADING), ""]
    if texts.get("preamble"):
        lines += [texts["preamble"], ""]
    lines += [
        "| seed | reward | judge gate AUC | solved before | solved after | change (after - before) | s per step |",
        "|---|---|---|---|---|---|---|",
    ]
    for seed in map(str, result["seeds"]):
        for reward in REWARDS:
            run = result["runs"][seed][reward]
            if not run["ran"]:  # why, where the texts say (a run stopped before its end is not "not run")
                why = texts.get("not_run", {}).get(f"{seed}/{reward}", "not run")
                lines.append(f"| {seed} | {reward} | - | - | - | {why} | - |")
                continue
            gate = (
                "-"
                if run["gate_auc"] is None
                else f"{run['gate_auc']:.2f} ({'pass' if run['gate_passed'] else 'FAIL'})"
            )
            seconds = "-" if run["step_seconds"] is None else f"{run['step_seconds']:.0f}"
            lines.append(
                f"| {seed} | {reward} | {gate} | {_percent(run['before'])} | {_percent(run['after'])} | "
                f"{change_cell(run['change'], run['p'])} | {seconds} |"
            )
    lines += [
        "",
        "Held-out reply length (characters, mean; a budget of 256 tokens cuts long solutions short) and training,"
        " by window of steps (reward / completion tokens / share cut at the limit):",
        "",
        "| seed | reward | reply length before -> after | "
        + " | ".join(f"steps {first}-{last}" for first, last in WINDOWS)
        + " |",
        "|---|---|---|" + "---|" * len(WINDOWS),
    ]
    for seed in map(str, result["seeds"]):
        for reward in REWARDS:
            run = result["runs"][seed][reward]
            if not run["ran"]:
                continue
            cells = [_window_cell(window) for window in run["by_window"]]
            lines.append(
                f"| {seed} | {reward} | {run['before'].get('mean_characters', 0):.0f} -> "
                f"{run['after'].get('mean_characters', 0):.0f} | " + " | ".join(cells) + " |"
            )
    lines += ["", "| seed | judge - overlap, after training (same held-out problems) |", "|---|---|"]
    for seed in map(str, result["seeds"]):
        versus = result["judge_vs_overlap"][seed]
        why = texts.get("not_run", {}).get(f"{seed}/judge", "not run")
        lines.append(f"| {seed} | {why if versus is None else change_cell(versus['change'], versus['p'])} |")
    base, overlap = result["judge_better_than_base"], result["judge_better_than_overlap"]
    seeds = len(result["seeds"])
    compared = sum(versus is not None for versus in result["judge_vs_overlap"].values())
    # the goal can still be met while judge runs are missing: 2 of 3 seeds need both comparisons
    open_seeds = seeds - compared
    verdict = (
        "met"
        if result["goal_met"]
        else f"not decided: {compared} of {seeds} seeds have both runs finished"
        if len(set(base) & set(overlap)) + open_seeds >= 2
        else "not met"
    )
    lines += [
        "",
        f"The judge's reward: significantly better than the base in {len(base)} of {seeds} seeds, "
        f"than the overlap reward in {len(overlap)}; the goal (both, in at least 2 of 3 seeds) is {verdict}.",
    ]
    if texts.get("reading"):
        lines += ["", texts["reading"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs", help="where the runs' folders are")
    prose = "the section's prose: JSON {preamble, reading, not_run: {SEED/REWARD: why}}"
    parser.add_argument("--texts", type=Path, default=None, help=prose)
    parser.add_argument("--write", action="store_true", help="write the results file and the section")
    args = parser.parse_args(argv)
    texts = json.loads(args.texts.read_text(encoding="utf-8")) if args.texts else {}
    result = build(args.seeds, args.runs_dir, texts)
    section = markdown(result)
    if args.write:
        write_result("rft_gsm8k", result)
        write_section(section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
