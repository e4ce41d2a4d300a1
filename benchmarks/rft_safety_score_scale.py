"""What the safety recipe's checkpoint rule rewards: the judge's mean score on a refusal and on an answer, by kind of
request, read from runs' judged validation replies.

The rule picks the checkpoint whose greedy replies to the 32 validation requests (16 harmful, 16 benign) get the
highest mean judge score. Each request is judged under its own criterion (harmful: declines; benign: helps), and
within a criterion the judge ranks well, but the two criteria need not share a scale: if a refused benign request
scores nearly as high as an answered one while a refused harmful request scores far above an answered one, a policy
that refuses everything has the higher mean. This reads every judged validation file of the runs given
(RUN/eval/val-*.jsonl, written by rft_safety_select.py), splits replies by kind (the row's expected behaviour) and
by what the reply did (the refusal check, judgerl.checks.refusal, never in the reward), and reports the mean judge
score of each cell, the mean of the policies that refuse all, answer all, or do what each row expects, and, per
file, the mean score beside the check's counts.

    python benchmarks/rft_safety_score_scale.py runs/bench-rft-safety-q05l-judge-s701 --name q05l-judge-s701

Writes benchmarks/results/rft_safety_score_scale_NAME.json with --name.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import write_result

KINDS = {"refuse": "harmful", "comply": "benign"}


def judged_replies(path: Path) -> list[dict[str, Any]]:
    """The file's judged replies: kind (harmful/benign), whether the reply refused (by the check), judge score."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        expected = next(iter(row["checker_instructions"]), None)
        if row["judge_score"] is None or row["checker_passed"] is None or expected not in KINDS:
            continue
        kind = KINDS[expected]
        # harmful: the check passes a refusal; benign: it passes an answer
        refused = row["checker_passed"] if kind == "harmful" else not row["checker_passed"]
        out.append({"kind": kind, "refused": refused, "score": float(row["judge_score"])})
    return out


def cell_means(replies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cells: dict[str, dict[str, Any]] = {}
    for kind in ("harmful", "benign"):
        for refused, what in ((True, "refused"), (False, "answered")):
            scores = [r["score"] for r in replies if r["kind"] == kind and r["refused"] is refused]
            cells[f"{kind}_{what}"] = {"n": len(scores), "mean": sum(scores) / len(scores) if scores else None}
    return cells


def policies(cells: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """The validation score (the mean over an equal number of harmful and benign requests) of three policies, from
    the cells' mean scores."""

    def mean(harmful: str, benign: str) -> float | None:
        a, b = cells[f"harmful_{harmful}"]["mean"], cells[f"benign_{benign}"]["mean"]
        return None if a is None or b is None else (a + b) / 2

    return {
        "refuse_all": mean("refused", "refused"),
        "answer_all": mean("answered", "answered"),
        "as_expected": mean("refused", "answered"),
    }


def by_file(run_dirs: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for run_dir in run_dirs:
        for path in sorted((run_dir / "eval").glob("val-*.jsonl")):
            replies = judged_replies(path)
            if not replies:
                continue
            harmful = [r for r in replies if r["kind"] == "harmful"]
            benign = [r for r in replies if r["kind"] == "benign"]
            rows.append(
                {
                    "run": run_dir.name,
                    "checkpoint": path.stem.removeprefix("val-"),
                    "mean_score": sum(r["score"] for r in replies) / len(replies),
                    "harmful_refused": f"{sum(r['refused'] for r in harmful)}/{len(harmful)}",
                    "benign_answered": f"{sum(not r['refused'] for r in benign)}/{len(benign)}",
                }
            )
    return rows


def markdown(result: dict[str, Any]) -> str:
    cells = result["cells"]
    lines = [
        "| request | refused: mean judge score (n) | answered: mean judge score (n) |",
        "|---|---|---|",
    ]
    for kind in ("harmful", "benign"):
        refused, answered = cells[f"{kind}_refused"], cells[f"{kind}_answered"]
        lines.append(f"| {kind} | {_cell(refused)} | {_cell(answered)} |")
    p = result["policies"]
    lines += [
        "",
        "| policy | validation score it would get |",
        "|---|---|",
        *(f"| {name.replace('_', ' ')} | {_number(value)} |" for name, value in p.items()),
        "",
        "| run | checkpoint | validation score | harmful refused | benign answered |",
        "|---|---|---|---|---|",
        *(
            f"| {r['run']} | {r['checkpoint']} | {r['mean_score']:.4f} | {r['harmful_refused']} | "
            f"{r['benign_answered']} |"
            for r in result["files"]
        ),
    ]
    return "\n".join(lines)


def _cell(cell: dict[str, Any]) -> str:
    return f"{_number(cell['mean'])} ({cell['n']})"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders with eval/val-*.jsonl")
    parser.add_argument("--name", help="write benchmarks/results/rft_safety_score_scale_NAME.json")
    args = parser.parse_args(argv)
    replies = [
        reply
        for run_dir in args.runs
        for path in sorted((run_dir / "eval").glob("val-*.jsonl"))
        for reply in judged_replies(path)
    ]
    if not replies:
        raise SystemExit("no judged validation replies (RUN/eval/val-*.jsonl) in the folders given")
    cells = cell_means(replies)
    result = {
        "runs": [r.name for r in args.runs],
        "cells": cells,
        "policies": policies(cells),
        "files": by_file(args.runs),
    }
    if args.name:
        write_result(f"rft_safety_score_scale_{args.name}", result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
