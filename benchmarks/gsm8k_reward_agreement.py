"""How well a GSM8K RFT run's training reward tracked the final-answer check on the run's own completions.

The gate measures the judge on 32 of the base policy's solutions before training; this reads what the reward
actually saw: every completion logged during training (RUN/completions/*.parquet), checked against its row's
reference (judgerl.checks.gsm8k), and reports the share right per window of steps, the reward's AUC against the
check over all completions and within each group of one problem's solutions (what GRPO compares), how many groups
had both a right and a wrong solution, and, for the judge, its ``final_answer_correct`` probability on right and
wrong solutions.

    python benchmarks/gsm8k_reward_agreement.py runs/bench-rft-gsm8k-judge-s601

Writes benchmarks/results/rft_gsm8k_agreement/<run folder name>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, ROOT
from judgerl.checks import gsm8k
from judgerl.stats import auc_estimate
from judgerl.train.gate import within_group_auc

PROMPTS = ROOT / "examples" / "gsm8k" / "prompts.jsonl"
WINDOWS = ((1, 10), (11, 20), (21, 30))


def logged_completions(run_dir: Path) -> list[dict[str, Any]]:
    """Every training completion of the run: step, problem, reply, reward (the judge's score or the function's)."""
    import pandas as pd

    files = sorted((run_dir / "completions").glob("*.parquet"))
    if not files:
        raise SystemExit(f"{run_dir}: no completions/*.parquet; give a GSM8K RFT run folder")
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    reward_column = "judge" if "judge" in frame.columns else next(c for c in frame.columns if c.startswith("fn."))
    rows = []
    for record in frame.to_dict("records"):
        p_pass = json.loads(record["judge_p_pass"]) if record.get("judge_p_pass") else {}
        rows.append(
            {
                "step": int(record["step"]),
                "problem": record["prompt"][-1]["content"],
                "reply": record["completion"][-1]["content"],
                "reward": float(record[reward_column]),
                "p_final": p_pass.get("final_answer_correct"),
            }
        )
    return rows


def agreement(rows: list[dict[str, Any]], references: dict[str, str]) -> dict[str, Any]:
    for row in rows:
        row["right"] = bool(gsm8k.check(references[row["problem"]], row["reply"]))
    right = [r["right"] for r in rows]
    groups: dict[str, tuple[list[float], list[bool]]] = {}
    for row in rows:
        scores, labels = groups.setdefault(f"{row['step']}|{row['problem']}", ([], []))
        scores.append(row["reward"])
        labels.append(row["right"])
    mixed = sum(1 for _, labels in groups.values() if 0 < sum(labels) < len(labels))
    within, low, high = within_group_auc(groups)
    overall = auc_estimate([r["reward"] for r in rows], right)
    result: dict[str, Any] = {
        "completions": len(rows),
        "right": sum(right),
        "right_by_window": {
            f"{first}-{last}": _share([r["right"] for r in rows if first <= r["step"] <= last])
            for first, last in WINDOWS
        },
        "reward_auc": {"value": overall.value, "low": overall.low, "high": overall.high},
        "within_group_auc": {"value": within, "low": low, "high": high},
        "groups": len(groups),
        "groups_with_right_and_wrong": mixed,
        "mean_reward": {"right": _mean(rows, True, "reward"), "wrong": _mean(rows, False, "reward")},
    }
    if any(r["p_final"] is not None for r in rows):
        wrong_passed = [r for r in rows if not r["right"] and r["p_final"] is not None and r["p_final"] > 0.5]
        result["final_answer_correct"] = {
            "mean_p_right": _mean(rows, True, "p_final"),
            "mean_p_wrong": _mean(rows, False, "p_final"),
            "wrong_passed": len(wrong_passed),
            "wrong": len(rows) - sum(right),
        }
    return result


def _share(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean(rows: list[dict[str, Any]], right: bool, key: str) -> float | None:
    values = [r[key] for r in rows if r["right"] is right and r[key] is not None]
    return sum(values) / len(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    references = {}
    for line in PROMPTS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        references[row["prompt"]] = row["reference"]
    result = {"run": args.run_dir.name, **agreement(logged_completions(args.run_dir), references)}
    out = RESULTS / "rft_gsm8k_agreement" / f"{args.run_dir.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
