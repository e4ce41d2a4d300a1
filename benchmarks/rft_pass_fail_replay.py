"""What the pass/fail reward (``reward.pass_fail_at_gate``) would have asked of a safety run's own training replies.

A replay, not a training run: for each logged group of a finished run of the safety recipe (runs/<name>/completions/
*.parquet, written by TRL; each reply with the judge's score, the reward it was paid), the judge's score becomes a
verdict at the threshold the run's own gate measured for the group's criteria (eval/judge_gate.json: midway between
the judge's mean on the gate replies the refusal check passed and failed, the product's rule), and the group's
advantages are recomputed as TRL computes them (``(r - mean) / (std + 1e-4)``, the unbiased std: the logged
advantages are reproduced to 1e-4 from the logged scores). Then, separately for harmful and benign requests:

- ``agree``: the share of replies whose verdict is the refusal check's (refuse a harmful request, answer a benign
  one; the check is never in the reward);
- ``alike``: groups whose replies all behave alike by the check, and ``alike_silent``: how many of those the verdicts
  leave without any advantage (every reply the same verdict). Under the judge's score as the reward, none is silent:
  the scores always spread, and group scaling makes any spread full size;
- ``mixed``, ``mixed_silent``: the same for groups with both behaviours (there, silence loses a real signal);
- ``alike_weight``: the share of the update's weight (sum of |advantage|) in the alike groups, as run (score) and
  under pass/fail; ``weight_ratio``: the total weight under pass/fail over the total as run;
- ``push``: in mixed groups, the mean advantage of the right replies minus that of the wrong ones, as run and under
  pass/fail (> 0: toward the row's expected behaviour).

    python benchmarks/rft_pass_fail_replay.py runs/bench-rft-safety-q05o-judge-s100[1-4] --name q05o

Prints a Markdown table; with ``--name`` writes benchmarks/results/rft_pass_fail_replay_NAME.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import write_result
from judgerl.checks.refusal import check as refusal_check
from judgerl.rubric import Rubric
from judgerl.train.pass_fail import gate_thresholds, pass_fail
from judgerl.train.rubrics import criteria_key, row_criteria
from rft_swing import reply_text, user_text


def advantages(rewards: list[float]) -> list[float]:
    """TRL's group-scaled advantages: ``(r - mean) / (std + 1e-4)`` with torch's (unbiased) std."""
    mean = statistics.fmean(rewards)
    spread = statistics.stdev(rewards) if len(rewards) > 1 else 0.0
    return [(r - mean) / (spread + 1e-4) for r in rewards]


@dataclass
class Tally:
    replies: int = 0
    agree: int = 0
    alike: int = 0
    alike_silent: int = 0
    mixed: int = 0
    mixed_silent: int = 0
    weight: dict[str, float] = field(default_factory=lambda: {"score": 0.0, "pass_fail": 0.0})
    alike_weight: dict[str, float] = field(default_factory=lambda: {"score": 0.0, "pass_fail": 0.0})
    pushes: dict[str, list[float]] = field(default_factory=lambda: {"score": [], "pass_fail": []})

    def add_group(self, scores: list[float], threshold: float, right: list[bool]) -> None:
        verdicts = [pass_fail(s, threshold) for s in scores]
        self.replies += len(scores)
        self.agree += sum((v == 1.0) == ok for v, ok in zip(verdicts, right, strict=True))
        alike = len(set(right)) == 1
        silent = len(set(verdicts)) == 1
        if alike:
            self.alike += 1
            self.alike_silent += silent
        else:
            self.mixed += 1
            self.mixed_silent += silent
        for name, rewards in (("score", scores), ("pass_fail", verdicts)):
            group = advantages(rewards)
            size = sum(abs(a) for a in group)
            self.weight[name] += size
            if alike:
                self.alike_weight[name] += size
            else:
                good = [a for a, ok in zip(group, right, strict=True) if ok]
                bad = [a for a, ok in zip(group, right, strict=True) if not ok]
                self.pushes[name].append(statistics.fmean(good) - statistics.fmean(bad))

    def merge(self, other: Tally) -> None:
        for name in ("replies", "agree", "alike", "alike_silent", "mixed", "mixed_silent"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("score", "pass_fail"):
            self.weight[name] += other.weight[name]
            self.alike_weight[name] += other.alike_weight[name]
            self.pushes[name] += other.pushes[name]

    def figures(self) -> dict[str, Any]:
        def share(name: str) -> float | None:
            return self.alike_weight[name] / self.weight[name] if self.weight[name] else None

        def push(name: str) -> float | None:
            return statistics.fmean(self.pushes[name]) if self.pushes[name] else None

        return {
            "replies": self.replies,
            "agree": self.agree / self.replies if self.replies else None,
            "alike": self.alike,
            "alike_silent": self.alike_silent,
            "mixed": self.mixed,
            "mixed_silent": self.mixed_silent,
            "alike_weight": {"score": share("score"), "pass_fail": share("pass_fail")},
            "weight_ratio": self.weight["pass_fail"] / self.weight["score"] if self.weight["score"] else None,
            "push": {"score": push("score"), "pass_fail": push("pass_fail")},
        }


def replay_run(run_dir: Path, tallies: dict[str, Tally]) -> dict[str, float]:
    """Adds the run's groups to ``tallies`` (by kind of request); returns the gate's thresholds it used, by kind."""
    import pandas as pd

    rows = [json.loads(line) for line in (run_dir / "data" / "prompts.jsonl").read_text().splitlines() if line.strip()]
    by_prompt = {row["prompt"]: row for row in rows}
    thresholds = gate_thresholds(run_dir / "eval", "the replay", "replay a run whose gate has both outcomes")
    used: dict[str, float] = {}
    for file in sorted((run_dir / "completions").glob("*.parquet")):
        groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for record in pd.read_parquet(file).to_dict("records"):
            groups.setdefault((int(record["step"]), user_text(record["prompt"])), []).append(record)
        for (_, user), replies in sorted(groups.items()):
            row = by_prompt.get(user)
            if row is None:
                raise SystemExit(
                    f"{file}: a logged prompt is not in {run_dir / 'data' / 'prompts.jsonl'}: {user[:60]!r}"
                )
            kind = "harmful" if row["expected"] == "refuse" else "benign"
            # keyed as training keys them (the safety rubric has no criteria of its own, only each row's)
            criteria = row_criteria(row["criteria"], f"{run_dir / 'data' / 'prompts.jsonl'}: prompt {user[:40]!r}")
            threshold = thresholds[criteria_key(Rubric(name="replay", criteria=criteria))]
            used[kind] = threshold
            right = [refusal_check(row["expected"], reply_text(r["completion"])) for r in replies]
            tallies.setdefault(kind, Tally()).add_group([float(r["judge"]) for r in replies], threshold, right)
    return used


def table(by_kind: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| request | replies | verdict agrees with the check | groups all alike: silent under pass/fail "
        "| mixed groups: silent | alike groups' share of the update, score / pass/fail | update weight, pass/fail "
        "over score | push in mixed groups, score / pass/fail |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, f in by_kind.items():
        lines.append(
            f"| {kind} | {f['replies']} | {f['agree']:.0%} | {f['alike_silent']} of {f['alike']} "
            f"| {f['mixed_silent']} of {f['mixed']} | {_pct(f['alike_weight']['score'])} / "
            f"{_pct(f['alike_weight']['pass_fail'])} | {_num(f['weight_ratio'])} "
            f"| {_num(f['push']['score'], '+.2f')} / {_num(f['push']['pass_fail'], '+.2f')} |"
        )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (completions/, data/, eval/judge_gate.json)")
    parser.add_argument("--name", help="write the figures to benchmarks/results/rft_pass_fail_replay_NAME.json")
    args = parser.parse_args(argv)
    pooled: dict[str, Tally] = {}
    runs = []
    for run_dir in args.runs:
        own: dict[str, Tally] = {}
        thresholds = replay_run(run_dir, own)
        for kind, tally in own.items():
            pooled.setdefault(kind, Tally()).merge(tally)
        runs.append(
            {"run": run_dir.name, "thresholds": thresholds, "by_kind": {k: t.figures() for k, t in own.items()}}
        )
    by_kind = {kind: pooled[kind].figures() for kind in sorted(pooled)}
    print(table(by_kind))
    if args.name:
        write_result(f"rft_pass_fail_replay_{args.name}", {"pooled": by_kind, "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
