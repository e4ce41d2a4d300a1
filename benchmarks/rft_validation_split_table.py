"""The BENCHMARKS.md section of the pre-registered broad-validation rule (benchmarks/rft_preregistered_validation.md).

Reads, for each seed of a round (runs PREFIX-sSEED), benchmarks/results/rft_safety_select_<name>.json (the round's
own rule on validation.jsonl, and the held-out and over-refusal change of every checkpoint, measured with --all)
and rft_safety_select_<name>_broad.json (the same checkpoints judged on validation_broad.jsonl). It applies the
round's success criterion to the step each rule chooses, and checks the note's three predictions on the seeds it
names as the test (``--tests``); the other seeds are reported as not a test. A seed without both files is reported
as not measured.

    python benchmarks/rft_validation_split_table.py --prefix q05m-judge --seeds 801 802 803 804 805 \\
        --tests 803 804 805 --texts TEXTS.json --write

Writes benchmarks/results/rft_validation_split_<prefix>.json and the section with --write.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import common
from common import VALIDATION_SPLITS, read_result, write_result, write_section
from rft_preregistered_table import succeeded, worse

HEADING = "## RFT for safety: the checkpoint chosen on a validation split drawn like the held-out requests"
#: the rules compared: the round's own (its validation.jsonl, the judge's mean), and the note's rules J and C
RULES = {
    "round": "the round's rule (validation.jsonl, judge mean)",
    "J": "rule J (validation_broad, judge mean)",
    "C": "rule C (validation_broad, refusal check)",
}


def counts(validation: dict[str, Any]) -> dict[str, Any]:
    """A step's validation figures: the judge's mean and, by the refusal check, how many of each kind it got right."""
    by_kind = validation["by_kind"]
    return {
        "judge_mean": validation["judge_score_mean"],
        **{kind: [round(v["rate"] * v["n"]), v["n"]] for kind, v in by_kind.items()},
    }


def run_figures(prefix: str, seed: int, tests: set[int]) -> dict[str, Any]:
    name = f"{prefix}-s{seed}"
    files = tuple(f"rft_safety_select_{name}{suffix}" for _, suffix in VALIDATION_SPLITS.values())
    if not all((common.RESULTS / f"{f}.json").exists() for f in files):
        return {"seed": seed, "test": seed in tests, "measured": False}
    own, broad = (read_result(f) for f in files)
    if own["steps"] != broad["steps"]:
        raise SystemExit(f"{name}: the two results files list different checkpoints ({own['steps']}, {broad['steps']})")
    steps = []
    for step in own["steps"]:
        key = str(step)
        held = own["heldout"].get(key) if step else None
        hard = own["overrefusal"].get(key) if step else None
        if step and held is None:
            raise SystemExit(f"{name}: step {step} has no held-out figures; run rft_safety_select.py with --all")
        steps.append(
            {
                "step": step,
                "validation": counts(own["validation"][key]),
                "validation_broad": counts(broad["validation"][key]),
                "heldout": held,
                "overrefusal": hard,
                "succeeds": succeeded(held),
                "worse": worse(held) or worse(hard),
            }
        )
    by_step = {s["step"]: s for s in steps}
    chosen = {"round": own["chosen_step"], "J": broad["chosen_step"], "C": broad["chosen_by_checker"]}
    return {
        "seed": seed,
        "test": seed in tests,
        "measured": True,
        "steps": steps,
        "succeeding": [s["step"] for s in steps if s["succeeds"]],
        "rules": {
            rule: {"step": step, "succeeds": by_step[step]["succeeds"], "worse": by_step[step]["worse"]}
            for rule, step in chosen.items()
        },
    }


def predictions(runs: list[dict[str, Any]], tests: list[int], rule: str = "J") -> list[dict[str, Any]]:
    """The note's three statements about ``rule`` on the test seeds measured so far: each holds, fails, or (while
    test seeds are missing and the statement could still go either way) holds so far."""
    done = [r for r in runs if r["test"] and r["measured"]]
    complete = len(done) == len(tests)
    with_good = [r for r in done if r["succeeding"]]
    first = all(r["rules"][rule]["succeeds"] for r in with_good)
    second = not any(r["rules"][rule]["worse"] for r in done)
    wins = sum(r["rules"][rule]["succeeds"] for r in done)
    baseline = sum(r["rules"]["round"]["succeeds"] for r in done)

    measured = f"{len(done)} of {len(tests)} test runs measured"

    def status(holds: bool) -> str:
        if not holds:
            return "fails"
        return "holds" if complete else f"holds so far ({measured})"

    # a count against a count can still turn either way while test runs are missing
    third = ("holds" if wins > baseline else "fails") if complete else f"not decided ({measured})"
    return [
        {
            "statement": f"in every test run with a succeeding checkpoint, rule {rule} chooses one",
            "figure": f"{sum(r['rules'][rule]['succeeds'] for r in with_good)} of {len(with_good)} such runs",
            "status": status(first),
        },
        {
            "statement": f"rule {rule} never chooses a checkpoint significantly worse on either split",
            "figure": f"{sum(r['rules'][rule]['worse'] for r in done)} of {len(done)} runs worse",
            "status": status(second),
        },
        {
            "statement": f"rule {rule} chooses a succeeding checkpoint in more test runs than the round's rule",
            "figure": f"{wins} against {baseline} of {len(done)}",
            "status": third,
        },
    ]


def change_text(measured: dict[str, Any] | None) -> str:
    if measured is None:
        return "0 (base)"
    c, p = measured["change"], measured["mcnemar_p"]
    text = f"{c['rate']:+.1%} [{c['low']:+.1%}, {c['high']:+.1%}], " + ("p < 0.001" if p < 0.001 else f"p {p:.3f}")
    return f"**{text}**" if succeeded(measured) or worse(measured) else text


def rule_cell(run: dict[str, Any], rule: str) -> str:
    chosen = run["rules"][rule]
    verdict = "succeeds" if chosen["succeeds"] else "significantly worse" if chosen["worse"] else "no significant gain"
    return f"{'base' if chosen['step'] == 0 else 'step ' + str(chosen['step'])}: {verdict}"


def validation_cell(figures: dict[str, Any]) -> str:
    refused, answered = figures["harmful_refused"], figures["benign_answered"]
    mean = figures["judge_mean"]
    return f"{mean:.3f}; {refused[0]}/{refused[1]}, {answered[0]}/{answered[1]}"


def markdown(result: dict[str, Any]) -> str:
    runs = result["runs"]
    lines = [result["heading"], ""]
    if result.get("preamble"):
        lines += [result["preamble"], ""]
    lines += [
        "| seed | a test? | succeeding checkpoints | " + " | ".join(RULES.values()) + " |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        test = "yes" if run["test"] else "no (suggested the rule)"
        if not run["measured"]:
            lines.append(f"| {run['seed']} | {test} | not measured: {result['not_measured_reason']} | | | |")
            continue
        good = ", ".join(str(s) for s in run["succeeding"]) or "none"
        cells = " | ".join(rule_cell(run, rule) for rule in RULES)
        lines.append(f"| {run['seed']} | {test} | {good} | {cells} |")
    lines += ["", "The note's predictions for rule J on the test seeds:", ""]
    for number, prediction in enumerate(result["predictions"], 1):
        lines.append(f"{number}. {prediction['statement']}: {prediction['figure']}; **{prediction['status']}**.")
    lines += ["", "The same statements for rule C (a second reading, not predicted):", ""]
    for number, prediction in enumerate(result["predictions_c"], 1):
        lines.append(f"{number}. {prediction['statement']}: {prediction['figure']}; {prediction['status']}.")
    for run in (r for r in runs if r["measured"]):
        chosen_by = {
            step: [r for r in RULES if run["rules"][r]["step"] == step] for step in (s["step"] for s in run["steps"])
        }
        lines += [
            "",
            f"Seed {run['seed']}: each step's validation figures (the judge's mean; harmful requests refused, benign "
            "ones answered, by the refusal check) beside its held-out change (bold: significant).",
            "",
            "| step | validation.jsonl | validation_broad | held-out change (128) | over-refusal change (64) "
            "| chosen by |",
            "|---|---|---|---|---|---|",
        ]
        for step in run["steps"]:
            rules = ", ".join("round" if r == "round" else f"rule {r}" for r in chosen_by[step["step"]]) or "-"
            lines.append(
                f"| {'base' if step['step'] == 0 else step['step']} | {validation_cell(step['validation'])} "
                f"| {validation_cell(step['validation_broad'])} | {change_text(step['heldout'])} "
                f"| {change_text(step['overrefusal'])} | {rules} |"
            )
    if result.get("reading"):
        lines += ["", result["reading"]]
    return "\n".join(lines) + "\n"


def build(prefix: str, seeds: list[int], tests: list[int], texts: dict[str, str]) -> dict[str, Any]:
    runs = [run_figures(prefix, seed, set(tests)) for seed in seeds]
    return {
        "prefix": prefix,
        "seeds": seeds,
        "tests": tests,
        "runs": runs,
        "predictions": predictions(runs, tests, "J"),
        "predictions_c": predictions(runs, tests, "C"),
        **texts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="q05m-judge", help="run names are PREFIX-sSEED")
    parser.add_argument("--seeds", type=int, nargs="+", default=[801, 802, 803, 804, 805])
    parser.add_argument("--tests", type=int, nargs="+", default=[803, 804, 805], help="the seeds that test the rule")
    parser.add_argument("--texts", type=Path, help="a JSON file of the section's prose: preamble, reading")
    parser.add_argument("--heading", default=HEADING, help="the section's '## ' heading")
    parser.add_argument("--write", action="store_true", help="write the results file and the BENCHMARKS.md section")
    args = parser.parse_args(argv)
    texts = {"preamble": "", "reading": "", "not_measured_reason": "its evaluation did not finish in the session"}
    if args.texts:
        texts.update(json.loads(args.texts.read_text(encoding="utf-8")))
    texts["heading"] = args.heading
    result = build(args.prefix, args.seeds, args.tests, texts)
    section = markdown(result)
    print(section)
    if args.write:
        write_result(f"rft_validation_split_{args.prefix}", result)
        write_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
