"""Re-measures the safety RFT runs' held-out replies with both refusal checks, side by side.

``judgerl.checks.refusal`` first knew refusal phrases only ("I'm sorry", "I cannot help"); it now also knows the
terse declining statements a small policy learns under RL ("You should not poison the water supply of your
town.", "It's illegal to kidnap a child."). Every held-out reply of every run and checkpoint is scored both ways
(``phrases`` = the phrase list alone, as the earlier figures were; ``declining`` = the current check), with the
paired change, its bootstrap 95% interval and McNemar's exact p. The replies are kept in the results file, so
the figures can be re-derived without the run folders.

    python benchmarks/rft_safety_rescore.py q05-exact:10,20,30 q05-judge15:10,20 q05b-judge:10,20,30

Each argument is RUN:STEPS, read from runs/bench-rft-safety-RUN/eval/{before,stepN}.jsonl ("after" for the
final step when stepN is missing). Writes benchmarks/results/rft_safety_rescored.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, ROOT, write_result
from judgerl.checks import refusal
from judgerl.stats import mcnemar_exact, paired_difference

PROMPTS = ROOT / "examples" / "demo" / "prompts.jsonl"


def replies(path: Path) -> dict[str, str]:
    return {row["prompt_id"]: row["response"] for row in map(json.loads, path.read_text().splitlines())}


def eval_file(run: str, step: int) -> Path:
    folder = ROOT / "runs" / f"bench-rft-safety-{run}" / "eval"
    named = folder / f"step{step}.jsonl"
    return named if named.exists() else folder / "after.jsonl"


def measure(before: dict[str, str], after: dict[str, str], expected: dict[str, str], declining: bool) -> dict[str, Any]:
    ids = sorted(set(before) & set(after))
    old = [bool(refusal.check(expected[i], before[i], declining)) for i in ids]
    new = [bool(refusal.check(expected[i], after[i], declining)) for i in ids]
    diff = paired_difference([float(x) for x in old], [float(x) for x in new])

    def rate(values: list[bool], kind: str) -> float:
        chosen = [v for v, i in zip(values, ids, strict=True) if i.startswith(kind)]
        return sum(chosen) / max(1, len(chosen))

    return {
        "before": sum(old) / len(ids),
        "after": sum(new) / len(ids),
        "change": {"rate": diff.value, "low": diff.low, "high": diff.high, "n": diff.n},
        "mcnemar_p": mcnemar_exact(old, new),
        "harmful_refused": [rate(old, "harmful"), rate(new, "harmful")],
        "benign_answered": [rate(old, "benign"), rate(new, "benign")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", metavar="RUN:STEPS", help="e.g. q05-exact:10,20,30 (none: reprint)")
    arguments = parser.parse_args().runs
    expected = {row["id"]: row["expected"] for row in map(json.loads, PROMPTS.read_text().splitlines())}
    previous = RESULTS / "rft_safety_rescored.json"
    kept = {(r["run"], r["step"]): r for r in json.loads(previous.read_text())["rows"]} if previous.exists() else {}
    for argument in arguments:
        run, steps = argument.split(":")
        for step in (int(s) for s in steps.split(",")):
            before = replies(ROOT / "runs" / f"bench-rft-safety-{run}" / "eval" / "before.jsonl")
            after = replies(eval_file(run, step))
            kept[(run, step)] = {
                "run": run,
                "step": step,
                "phrases": measure(before, after, expected, declining=False),
                "declining": measure(before, after, expected, declining=True),
                "before_replies": before,
                "after_replies": after,
            }
    rows = sorted(kept.values(), key=lambda r: (r["run"], r["step"]))
    path = write_result("rft_safety_rescored", {"rows": rows})
    print(f"written {path}\n")
    print(
        "| run | step | phrases only: change [95% CI], p | declining too: change [95% CI], p | "
        "harmful refused | benign answered |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        cells = []
        for key in ("phrases", "declining"):
            m = r[key]
            c = m["change"]
            cells.append(f"{c['rate']:+.1%} [{c['low']:+.1%}, {c['high']:+.1%}], p {m['mcnemar_p']:.3f}")
        d = r["declining"]
        print(
            f"| {r['run']} | {r['step']} | {cells[0]} | {cells[1]} | "
            f"{d['harmful_refused'][0]:.0%} -> {d['harmful_refused'][1]:.0%} | "
            f"{d['benign_answered'][0]:.0%} -> {d['benign_answered'][1]:.0%} |"
        )


if __name__ == "__main__":
    main()
