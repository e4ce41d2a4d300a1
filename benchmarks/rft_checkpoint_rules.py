"""Three checkpoint rules for the safety recipe, applied to runs' judged validation replies: which step each would
choose, and what the policy did there by the refusal check.

The recipe's rule (``rft_safety_select.py``) keeps the checkpoint whose greedy replies to the 32 validation requests
get the highest mean judge score. ``rft_safety_score_scale.py`` showed why that favours over-refusing: each request
is judged under its own criterion (harmful: declines; benign: helps), and the two criteria's scores do not share a
scale. The two other rules here weigh the criteria apart; neither looks at the refusal check on the validation
replies. ``calibrated`` was written down before its first reading of the runs reported in BENCHMARKS.md;
``no_criterion_worse`` after seeing, on those same runs, that every checkpoint lowered the benign requests' mean
score, so its figures there are not a test of it:

- ``mean``: the recipe's rule, the mean judge score over all validation replies;
- ``calibrated``: each criterion's scores turned into verdicts at a threshold taken from the run's judge gate (the
  midpoint of the mean score of the gate's replies that passed the check under that criterion and of those that
  failed it), then the mean over criteria of the share of validation replies above their criterion's threshold;
- ``no_criterion_worse``: among the base and the checkpoints whose mean judge score under every criterion is at least
  the base's, the highest mean score (the base always qualifies, so a rule that trades one criterion for another
  keeps the base).

Ties go to the earliest step; the base chosen means no change. For each run and rule it reports the chosen step, the
validation counts there by the refusal check (harmful refused, benign answered, of 16 each), and the held-out change
where rft_safety_select.py measured that step (benchmarks/results/rft_safety_select_NAME.json, or
_NAME_broad.json for a run chosen on the broad split).

    python benchmarks/rft_checkpoint_rules.py runs/bench-rft-safety-q05l-judge-s701 --name q05l-s701

``--split valbroad`` applies the rules to the replies judged on the broad validation split instead
(eval/valbroad-*.jsonl, written by rft_safety_select.py --validation-split validation_broad; 32 requests of each kind).

Writes benchmarks/results/rft_checkpoint_rules_NAME.json with --name; with ``--merge`` the runs already in that file
are kept too, the ones named again replaced (a run's folder can be lost with a session's machine after it was read).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import common
from common import merged_runs, saved_result, write_result
from rft_safety_score_scale import KINDS, judged_replies

RULES = ("mean", "calibrated", "no_criterion_worse")


def gate_thresholds(gate: dict[str, Any]) -> dict[str, float]:
    """Per kind, the midpoint of the gate's mean judge score on replies the check passed and on those it failed."""
    thresholds = {}
    for kind in KINDS.values():
        items = [i for i in gate["items"] if i["prompt_id"].startswith(kind) and i["judge_score"] is not None]
        passed = [i["judge_score"] for i in items if i["checker"]]
        failed = [i["judge_score"] for i in items if not i["checker"]]
        if passed and failed:
            thresholds[kind] = (sum(passed) / len(passed) + sum(failed) / len(failed)) / 2
    return thresholds


def validation_replies(path: Path) -> list[dict[str, Any]]:
    """One checkpoint's judged validation replies: kind, judge score, whether the check passed (refused a harmful
    request, answered a benign one)."""
    return [
        {"kind": r["kind"], "score": r["score"], "checked": r["refused"] == (r["kind"] == "harmful")}
        for r in judged_replies(path)
    ]


#: the validation splits' eval file prefixes (rft_safety_select.py's labels)
SPLITS = tuple(label for label, _ in common.VALIDATION_SPLITS.values())


def step_of(path: Path, split: str = "val") -> int:
    name = path.stem.removeprefix(f"{split}-")
    return 0 if name == "base" else int(name.removeprefix("step"))


def kind_means(replies: list[dict[str, Any]]) -> dict[str, float]:
    means = {}
    for kind in KINDS.values():
        scores = [r["score"] for r in replies if r["kind"] == kind]
        if scores:
            means[kind] = sum(scores) / len(scores)
    return means


def rule_scores(by_step: dict[int, list[dict[str, Any]]], thresholds: dict[str, float]) -> dict[str, dict[int, float]]:
    """Each rule's score of each step (a step a rule rules out is left out of its scores)."""
    scores: dict[str, dict[int, float]] = {rule: {} for rule in RULES}
    base = kind_means(by_step[0])
    for step, replies in by_step.items():
        mean = sum(r["score"] for r in replies) / len(replies)
        scores["mean"][step] = mean
        shares = [
            sum(r["score"] > threshold for r in of_kind) / len(of_kind)
            for kind, threshold in thresholds.items()
            if (of_kind := [r for r in replies if r["kind"] == kind])
        ]
        if shares:
            scores["calibrated"][step] = sum(shares) / len(shares)
        means = kind_means(replies)
        if all(means.get(kind, float("-inf")) >= base_mean for kind, base_mean in base.items()):
            scores["no_criterion_worse"][step] = mean
    return scores


def choose(scores: dict[int, float]) -> int | None:
    """The step with the best score; ties go to the earliest."""
    if not scores:
        return None
    best = max(scores.values())
    return min(step for step, score in scores.items() if score == best)


def counts(replies: list[dict[str, Any]]) -> dict[str, str]:
    harmful = [r for r in replies if r["kind"] == "harmful"]
    benign = [r for r in replies if r["kind"] == "benign"]
    return {
        "harmful_refused": f"{sum(r['checked'] for r in harmful)}/{len(harmful)}",
        "benign_answered": f"{sum(r['checked'] for r in benign)}/{len(benign)}",
    }


def heldout_change(run_dir: Path, step: int, split: str = "val") -> dict[str, Any] | None:
    """The held-out change at ``step`` as rft_safety_select.py measured it (the base: no change): from its results
    file for ``split``, else from its file for another split (a run chosen on one split has only that file)."""
    if step == 0:
        return {"rate": 0.0, "mcnemar_p": 1.0}
    name = run_dir.name.removeprefix("bench-rft-safety-")
    suffixes = {label: suffix for label, suffix in common.VALIDATION_SPLITS.values()}
    ordered = [suffixes[split], *(s for label, s in suffixes.items() if label != split)]
    for suffix in ordered:
        path = common.RESULTS / f"rft_safety_select_{name}{suffix}.json"
        if not path.exists():
            continue
        measured = json.loads(path.read_text(encoding="utf-8")).get("heldout", {}).get(str(step))
        if measured is not None:
            return {"rate": measured["change"]["rate"], "mcnemar_p": measured["mcnemar_p"]}
    return None


def analyse(run_dir: Path, split: str = "val") -> dict[str, Any]:
    eval_dir = run_dir / "eval"
    gate_path = eval_dir / "judge_gate.json"
    if not gate_path.exists():
        raise SystemExit(f"{run_dir}: no eval/judge_gate.json (the calibrated rule needs the run's gate)")
    thresholds = gate_thresholds(json.loads(gate_path.read_text(encoding="utf-8")))
    by_step = {step_of(p, split): validation_replies(p) for p in eval_dir.glob(f"{split}-*.jsonl")}
    by_step = {step: replies for step, replies in sorted(by_step.items()) if replies}
    if 0 not in by_step:
        raise SystemExit(f"{run_dir}: no judged eval/{split}-base.jsonl (every rule compares against the base)")
    scores = rule_scores(by_step, thresholds)
    chosen = {}
    for rule in RULES:
        step = choose(scores[rule])
        chosen[rule] = (
            None
            if step is None
            else {
                "step": step,
                **counts(by_step[step]),
                "heldout_change": heldout_change(run_dir, step, split),
            }
        )
    return {
        "run": run_dir.name,
        "thresholds": thresholds,
        "steps": {
            str(step): {rule: scores[rule].get(step) for rule in RULES} | counts(by_step[step]) for step in by_step
        },
        "chosen": chosen,
    }


def markdown(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| run | rule | chosen step | harmful refused (val) | benign answered (val) | held-out change (p) |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        for rule in RULES:
            chosen = run["chosen"][rule]
            if chosen is None:
                lines.append(f"| {run['run']} | {rule} | - | - | - | - |")
                continue
            change = chosen["heldout_change"]
            held = "not measured" if change is None else f"{change['rate']:+.1%} ({change['mcnemar_p']:.3f})"
            step = "base" if chosen["step"] == 0 else str(chosen["step"])
            lines.append(
                f"| {run['run']} | {rule} | {step} | {chosen['harmful_refused']} | {chosen['benign_answered']} | "
                f"{held} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders with eval/judge_gate.json and eval/val-*.jsonl")
    parser.add_argument("--name", help="write benchmarks/results/rft_checkpoint_rules_NAME.json")
    parser.add_argument("--split", choices=SPLITS, default="val", help="which judged validation replies")
    parser.add_argument("--merge", action="store_true", help="with --name: keep the runs already in that file too")
    args = parser.parse_args(argv)
    if args.merge and not args.name:
        parser.error("--merge needs --name")
    saved = saved_result(f"rft_checkpoint_rules_{args.name}") if args.merge else None
    if saved is not None and saved["split"] != args.split:
        raise SystemExit(f"--merge: the saved figures are on the {saved['split']} split, not {args.split}")
    runs = [analyse(run_dir, args.split) for run_dir in args.runs]
    if saved is not None:
        runs = merged_runs(saved["runs"], runs)
    if args.name:
        write_result(f"rft_checkpoint_rules_{args.name}", {"rules": list(RULES), "split": args.split, "runs": runs})
    print(markdown(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
