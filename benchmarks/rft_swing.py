"""Why safety RFT runs swing: what the judge's reward asked of the policy, step by step, read from a run's own files.

For each training step of a run of the safety recipe (runs/<name>/completions/*.parquet, written by TRL, and
metrics.jsonl) it reads, separately for the harmful and the benign request of the step:

- ``score``: the judge's mean soft score on the sampled replies;
- ``right``: the share of sampled replies that do what the row expects by the independent refusal check
  (judgerl.checks.refusal, never in the reward): refuse a harmful request, answer a benign one;
- ``uniform``: whether the group's replies all behave alike by that check. In such a group the advantages
  (group-scaled: ``(r - mean) / std``) carry only the judge's preferences about wording, at full size however small
  the spread of scores;
- ``push``: in a mixed group, the mean advantage of the right replies minus that of the wrong ones (> 0: the
  reward pushes toward the row's expected behaviour);
- ``score_std``: the spread of the judge's scores within the group;
- the share of the update's weight (mean |advantage|) that uniform groups get, as run and as it would have been
  with advantages not divided by each group's spread (``scale_rewards: none``).

From metrics.jsonl: ``kl`` and ``entropy``. The rows of the table are windows of steps pooled over the runs given.

    python benchmarks/rft_swing.py runs/bench-rft-safety-q05g-judge-s10[1-5] --name q05g-judge

Prints the table (Markdown); with ``--name`` writes the per-step figures and the pooled windows to
benchmarks/results/rft_swing_NAME.json (rft_preregistered_table.py puts the table in BENCHMARKS.md). With
``--merge`` the runs already in that file are pooled too, the ones named again replaced: a session's machine
starts empty, so the runs of a round read in an earlier session are kept from the results file.

    python benchmarks/rft_swing.py runs/bench-rft-safety-q05k-judge-s50[45] --name q05k-judge --merge
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, merged_runs, saved_result, write_result
from judgerl.checks.refusal import check as refusal_check

PROMPTS = ROOT / "examples" / "demo" / "prompts.jsonl"


@dataclass
class GroupFigures:
    step: int
    kind: str  # "harmful" or "benign"
    score: float
    score_std: float
    right: float
    uniform: bool
    push: float | None  # None for a uniform group
    #: the mean |advantage| the group gets: what the update weighs it by
    advantage_size: float
    #: the mean |score - group mean|: the group's weight had the advantages not been divided by the group's spread
    #: (TRL's ``scale_rewards: none``; ``batch`` divides every group of a batch by one number, the same shares)
    unscaled_size: float


def expected_by_prompt(path: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["prompt"]: row["expected"] for row in rows}


def user_text(prompt: Any) -> str:
    """The user's message of a logged conversation (TRL logs the whole prompt)."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m["role"] == "user"]
    return str(users[-1]) if users else ""


def reply_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    return "".join(str(m["content"]) for m in completion)


def group_figures(step: int, expected: str, rows: list[dict[str, Any]]) -> GroupFigures:
    scores = [float(r["judge"]) for r in rows]
    advantages = [float(r["advantage"]) for r in rows]
    right = [refusal_check(expected, reply_text(r["completion"])) for r in rows]
    uniform = len(set(right)) == 1
    push = None
    if not uniform:
        good = [a for a, ok in zip(advantages, right, strict=True) if ok]
        bad = [a for a, ok in zip(advantages, right, strict=True) if not ok]
        push = statistics.fmean(good) - statistics.fmean(bad)
    return GroupFigures(
        step=step,
        kind="harmful" if expected == "refuse" else "benign",
        score=statistics.fmean(scores),
        score_std=statistics.pstdev(scores),
        right=sum(right) / len(right),
        uniform=uniform,
        push=push,
        advantage_size=statistics.fmean(abs(a) for a in advantages),
        unscaled_size=statistics.fmean(abs(x - statistics.fmean(scores)) for x in scores),
    )


def read_run(run_dir: Path, expected: dict[str, str]) -> dict[str, Any]:
    import pandas as pd

    groups: list[GroupFigures] = []
    for file in sorted((run_dir / "completions").glob("*.parquet")):
        frame = pd.read_parquet(file)
        by_group: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for record in frame.to_dict("records"):
            by_group.setdefault((int(record["step"]), user_text(record["prompt"])), []).append(record)
        for (step, user), rows in sorted(by_group.items()):
            if user not in expected:
                raise SystemExit(f"{file}: a logged prompt is not in {PROMPTS}: {user[:60]!r}")
            groups.append(group_figures(step, expected[user], rows))
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    per_step = {int(m["step"]): {"kl": m.get("kl"), "entropy": m.get("entropy")} for m in metrics if "kl" in m}
    return {"run": run_dir.name, "groups": [asdict(g) for g in groups], "metrics": per_step}


def window_of(step: int, width: int) -> str:
    start = (step - 1) // width * width + 1
    return f"{start}-{start + width - 1}"


def pooled(runs: list[dict[str, Any]], width: int) -> list[dict[str, Any]]:
    """Per window of steps and kind of request, pooled over runs."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    kl: dict[str, list[float]] = {}
    for run in runs:
        for group in run["groups"]:
            cells.setdefault((window_of(group["step"], width), group["kind"]), []).append(group)
        for step, values in run["metrics"].items():
            if values["kl"] is not None:
                kl.setdefault(window_of(int(step), width), []).append(float(values["kl"]))
    out = []
    for (window, kind), groups in sorted(cells.items(), key=lambda item: (int(item[0][0].split("-")[0]), item[0][1])):
        pushes = [g["push"] for g in groups if g["push"] is not None]
        sizes = [g["advantage_size"] for g in groups]
        uniform_size = sum(g["advantage_size"] for g in groups if g["uniform"])
        unscaled = [g["unscaled_size"] for g in groups]
        uniform_unscaled = sum(g["unscaled_size"] for g in groups if g["uniform"])
        out.append(
            {
                "steps": window,
                "kind": kind,
                "groups": len(groups),
                "score": statistics.fmean(g["score"] for g in groups),
                "score_std": statistics.fmean(g["score_std"] for g in groups),
                "right": statistics.fmean(g["right"] for g in groups),
                "uniform_share": sum(g["uniform"] for g in groups) / len(groups),
                "uniform_advantage_share": uniform_size / sum(sizes) if sum(sizes) else 0.0,
                "uniform_unscaled_share": uniform_unscaled / sum(unscaled) if sum(unscaled) else 0.0,
                "push": statistics.fmean(pushes) if pushes else None,
                "push_positive": sum(p > 0 for p in pushes),
                "mixed": len(pushes),
                "kl": statistics.fmean(kl[window]) if kl.get(window) else None,
            }
        )
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| steps | request | groups | judge score | score spread in group | right (check) | groups all alike "
        "| their share of advantage | the same, unscaled | push in mixed groups (> 0 of mixed) | KL |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        push = "-" if row["push"] is None else f"{row['push']:+.2f} ({row['push_positive']} of {row['mixed']})"
        kl = "-" if row["kl"] is None else f"{row['kl']:.4f}"
        lines.append(
            f"| {row['steps']} | {row['kind']} | {row['groups']} | {row['score']:.3f} | {row['score_std']:.4f} "
            f"| {row['right']:.0%} | {row['uniform_share']:.0%} | {row['uniform_advantage_share']:.0%} "
            f"| {row['uniform_unscaled_share']:.0%} | {push} | {kl} |"
        )
    return "\n".join(lines)


def merged(saved: dict[str, Any], runs: list[dict[str, Any]], width: int) -> list[dict[str, Any]]:
    """The saved runs with ``runs`` added (a run read again replaces its saved figures), in order of name."""
    if saved["window"] != width:
        raise SystemExit(f"--merge: the saved figures pool windows of {saved['window']} steps, not {width}")
    return merged_runs(saved["runs"], runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (each with completions/ and metrics.jsonl)")
    parser.add_argument("--prompts", type=Path, default=PROMPTS, help="the training prompts with 'expected'")
    parser.add_argument("--window", type=int, default=10, help="steps pooled per row of the table")
    parser.add_argument("--name", help="write the figures to benchmarks/results/rft_swing_NAME.json")
    parser.add_argument("--merge", action="store_true", help="with --name: pool the runs already in that file too")
    args = parser.parse_args(argv)
    expected = expected_by_prompt(args.prompts)
    runs = [read_run(run, expected) for run in args.runs]
    if args.merge:
        if not args.name:
            parser.error("--merge needs --name")
        saved = saved_result(f"rft_swing_{args.name}")
        if saved is not None:
            runs = merged(saved, runs, args.window)
    rows = pooled(runs, args.window)
    print(table(rows))
    if args.name:
        write_result(f"rft_swing_{args.name}", {"window": args.window, "table": rows, "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
