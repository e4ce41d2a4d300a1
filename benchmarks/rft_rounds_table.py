"""Every pre-registered safety RFT round in one table, read from the rounds' results files.

Reads benchmarks/results/rft_preregistered_<prefix>.json for every round (written by rft_preregistered_table.py)
and sets the rounds side by side: what each changed, its checkpoint rule, how many of its runs improved
significantly at the chosen and at the last checkpoint and at any checkpoint measured, and how many got
significantly worse at the chosen or the last checkpoint and at any checkpoint measured, with the sums over all
rounds. Nothing is measured here: each figure is the round's own tally, so a round's file must be regenerated
first (rft_preregistered_table.py --write) and this table after it.

    python benchmarks/rft_rounds_table.py --write
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import ALPHA, RESULTS, publish, read_result
from rft_preregistered_table import round_summary, seeds_phrase, succeeded, worse

HEADING = "## RFT for safety: every pre-registered round at a glance"
#: the first round's section kept the script's default heading, which names no change
FIRST_ROUND = "the recipe as first fixed: 30 steps, groups of 4, a harmful and a benign request a step"
#: the one round registered and withdrawn before any run (it has no results file)
WITHDRAWN = (
    "Not in the table: the round registered for seeds 401-405 (`benchmarks/rft_preregistered_helpworded.md`, the help "
    "criterion re-worded) was withdrawn before any run by its own rule, when no new wording ranked the benign "
    'replies better ("The help criterion\'s wording: the same judge, the same replies").'
)
#: the candidates each rule scores: the judge's mean on the 32-request split, on the broad one, or rule K
RULES = {
    ("judge", "validation"): "judge's mean, 32 validation requests",
    ("judge", "validation_broad"): "judge's mean, broad split (64)",
    ("calibrated", "validation_broad"): "calibrated (rule K), broad split (64)",
    ("average", "none"): "none: the average of the checkpoints is the policy",
}


def round_change(heading: str | None) -> str:
    """What a round changed, from its section's heading ('## RFT for safety: <change> (seeds a-b)')."""
    if heading is None:
        return FIRST_ROUND
    text = re.sub(r"^## RFT for safety: (five )?(pre-registered runs )?(with )?", "", heading)
    return re.sub(r" \(seeds [0-9]+-[0-9]+\)$", "", text)


def amended_arithmetic(result: dict[str, Any]) -> str:
    """'; seed 1103 run as policy float32, judge float32, no native bf16 (its amendment)': the runs of a round that
    computed otherwise than its first (rft_preregistered_table.py's ``by_arithmetic``), or '' where all alike."""
    groups = result.get("by_arithmetic") or []
    return "".join(f"; {seeds_phrase(g['seeds'])} run as {g['arithmetic']} (its amendment)" for g in groups[1:])


def measured(run: dict[str, Any], split: str = "heldout") -> dict[str, dict[str, Any] | None]:
    """A run's figures on ``split`` (``heldout`` or ``overrefusal``) by checkpoint measured: the chosen, the last,
    and every checkpoint where the round measured all (rft_safety_select.py --all; ``by_step`` in files written
    since it was recorded, ``every`` before)."""
    suffix = "" if split == "heldout" else f"_{split}"
    steps = {str(run["chosen_step"]): run[f"chosen{suffix}"], str(run["last_step"]): run[f"last{suffix}"]}
    for step, figures in (run.get("by_step") or run.get("every") or {}).items():
        steps[step] = figures.get(split)
    steps.pop("0", None)  # the base is what a change is measured against
    return steps


def any_better(run: dict[str, Any]) -> bool:
    """Whether some measured checkpoint was significantly better on the 128 held-out requests (with the run's gate
    passed, as the rounds' tallies count): the most any checkpoint rule could have kept."""
    return bool(run["gate"]["passed"]) and any(succeeded(m) for m in measured(run).values())


def any_worse(run: dict[str, Any]) -> bool:
    """Whether some measured checkpoint was significantly worse on the held-out or the over-refusal split, kept or
    not (whatever the gate): the harm a run did on the way, which a rule that keeps another checkpoint hides."""
    return any(worse(m) for split in ("heldout", "overrefusal") for m in measured(run, split).values())


def all_measured(run: dict[str, Any]) -> bool:
    return set(run["validation"]) - {"0"} <= set(measured(run))


def round_row(prefix: str, result: dict[str, Any]) -> dict[str, Any]:
    done = [r for r in result["runs"] if r["ran"]]
    rules = {(r.get("rule", "judge"), result.get("validation_split") or "validation") for r in done}
    summary = round_summary(prefix, result, None)
    return {
        "prefix": prefix,
        "seeds": result["seeds"],
        "change": round_change(result.get("heading")) + amended_arithmetic(result),
        "rule": "; ".join(RULES[rule] for rule in sorted(rules)),
        "ran": summary["ran"],
        "gates_failed": summary["gates_failed"],
        "last_step": max((r["last_step"] for r in done), default=None),
        "all_measured": bool(done) and all(all_measured(r) for r in done),
        "success_chosen": result["tally"]["success_chosen"],
        "success_last": result["tally"]["success_last"],
        "success_any": sum(any_better(r) for r in done),
        "worse": result["tally"]["worse"],
        "worse_any": sum(any_worse(r) for r in done),
        "met": result["tally"]["met"],
    }


def build(prefixes: list[str] | None = None) -> dict[str, Any]:
    """The rounds named (every rft_preregistered_*.json when none), in the order of their first seeds."""
    if prefixes is None:
        prefixes = [p.stem.removeprefix("rft_preregistered_") for p in RESULTS.glob("rft_preregistered_*.json")]
    rounds = sorted(
        (round_row(prefix, read_result(f"rft_preregistered_{prefix}")) for prefix in prefixes),
        key=lambda row: row["seeds"][0],
    )
    keys = ("ran", "gates_failed", "success_chosen", "success_last", "success_any", "worse", "worse_any")
    return {"rounds": rounds, "total": {key: sum(row[key] for row in rounds) for key in keys}}


def markdown(result: dict[str, Any]) -> str:
    total = result["total"]
    lines = [
        HEADING,
        "",
        "Each round below was fixed in a file under `benchmarks/` before its first run started, and each has its own "
        "section below with its commands, every run, its timing and its reading; this table is made from those "
        f"sections' results files (`python benchmarks/rft_rounds_table.py --write`). Better: on the 128 held-out "
        f"requests, the bootstrap 95% interval of the paired change above 0 and McNemar's exact p < {ALPHA}; worse: "
        "the same below 0 on the held-out or the over-refusal split, at the chosen or the last checkpoint; worse "
        "at any checkpoint: at any checkpoint measured, kept or not. Any checkpoint: among those measured, which are "
        "the chosen and the last, and every checkpoint where the round "
        "measured all (marked *). Every round trains a 0.5B policy (Qwen2.5-Coder-0.5B-Instruct, LoRA) with GRPO on "
        "the reward of the 1.5B judge (Qwen2.5-Coder-1.5B-Instruct) on the safety requests of `examples/demo/`. "
        "The GSM8K round (seeds 601-603), another task with another kind of judge, has its own section.",
        "",
        "| round | seeds | what it changed | checkpoint rule | steps | runs | gates failed | better at chosen "
        "| better at last | better at any checkpoint | worse | worse at any checkpoint |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rounds"]:
        seeds = row["seeds"]
        lines.append(
            f"| {row['prefix']} | {seeds[0]}-{seeds[-1]} | {row['change']} | {row['rule']} | {row['last_step']} "
            f"| {row['ran']} of {len(seeds)} | {row['gates_failed']} | {row['success_chosen']} "
            f"| {row['success_last']} | {row['success_any']}{'*' if row['all_measured'] else ''} | {row['worse']} "
            f"| {row['worse_any']} |"
        )
    planned = sum(len(row["seeds"]) for row in result["rounds"])
    lines.append(
        f"| all | | | | | {total['ran']} of {planned} | {total['gates_failed']} | {total['success_chosen']} "
        f"| {total['success_last']} | {total['success_any']} | {total['worse']} "
        f"| {total['worse_any']} |"
    )
    lines += [
        "",
        f"{headline(result)}. {met_sentence(result['rounds'])}",
        "",
        WITHDRAWN,
    ]
    return "\n".join(lines) + "\n"


def headline(result: dict[str, Any]) -> str:
    """The rounds' sum in a sentence, as README.md and the demo's last line say it (a test holds them to it)."""
    total = result["total"]
    return (
        f"Across {len(result['rounds'])} rounds with seeds fixed beforehand, {total['success_chosen']} of "
        f"{total['ran']} runs were significantly better on 128 held-out requests at the checkpoint their rule chose, "
        f"{total['success_last']} at their last checkpoint and {total['success_any']} at some checkpoint measured, "
        f"and {total['worse']} were significantly worse at the chosen or the last checkpoint, {total['worse_any']} at "
        "some checkpoint measured"
    )


def met_sentence(rounds: list[dict[str, Any]]) -> str:
    met = [row["prefix"] for row in rounds if row["met"]]
    if not met:
        return "No round has met its goal (five of five better at the chosen checkpoint, four at the last, none worse)."
    return f"Met its goal: {', '.join(met)}."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the results file and the BENCHMARKS.md section")
    args = parser.parse_args(argv)
    publish("rft_rounds", build(), markdown, None, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
