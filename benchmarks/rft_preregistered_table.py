"""The BENCHMARKS.md section of the pre-registered safety RFT runs (benchmarks/rft_preregistered.md), from their files.

Reads, for each seed, benchmarks/results/rft_safety_<prefix>-s<seed>.json (the gate and training time, written by
rft_safety.py) and rft_safety_select_<prefix>-s<seed>.json (the checkpoint rule and the held-out figures, written by
rft_safety_select.py), and the swing figures of benchmarks/results/rft_swing_<prefix>.json (rft_swing.py). Applies
the pre-registered success criterion and tallies the goal. A seed whose files are missing is reported as not run.

    python benchmarks/rft_preregistered_table.py --prefix q05g-judge --seeds 101 102 103 104 105 --write
    python benchmarks/rft_preregistered_table.py --prefix q05h-judge --seeds 201 202 203 204 205 \
        --heading "## RFT for safety: five pre-registered runs with batch-scaled advantages (seeds 201-205)" \
        --beside q05g-judge --write

``--validation-split validation_broad`` reads each run's rft_safety_select_<prefix>-s<seed>_broad.json instead: a
round whose rule chose on examples/demo/validation_broad.jsonl (rft_safety_select.py --validation-split). The
table's columns follow the runs' checkpoints (base / 10 / 20 for a 20-step round).

A round chosen with ``rft_safety_select.py --rule calibrated`` (round 9) shows the calibrated scores in its table
and rule J (the judge's mean, ``chosen_by_mean``) beside rule C.

``--rules NAME`` adds rule K's choices (the calibrated judge-only rule, round 8's amendment 2) from
benchmarks/results/rft_checkpoint_rules_NAME.json (rft_checkpoint_rules.py), each judged by the held-out and
over-refusal figures of the step it kept.

``--beside PREFIX`` adds a table of both rounds side by side, read from the earlier round's results file
(benchmarks/results/rft_preregistered_PREFIX.json and rft_swing_PREFIX.json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import (
    ALPHA,
    RESULTS,
    VALIDATION_SPLITS,
    read_result,
    saved_result,
    significant,
    write_result,
    write_section,
)
from rft_gate_pool import pooled_gate

HEADING = "## RFT for safety: the five pre-registered runs (seeds 101-105)"


def succeeded(measured: dict[str, Any] | None) -> bool:
    """On the 128 held-out requests: the interval of the change above 0 and McNemar's p below 0.05."""
    return measured is not None and significant(measured["change"], measured["mcnemar_p"])


def worse(measured: dict[str, Any] | None) -> bool:
    """Significantly worse: the interval below 0 and McNemar's p below 0.05."""
    return measured is not None and significant(measured["change"], measured["mcnemar_p"], -1)


#: the refusal check's per-kind counts shown beside each validation score, in this order
KINDS = ("harmful_refused", "benign_answered")


def arithmetic(train: dict[str, Any]) -> str | None:
    """How a run computed, from its results file: the policy's and the judge's dtypes and whether its CPU has native
    bf16 (round 10's amendment ran float32 where it has not). None where the file did not record its config."""
    config = train.get("config")
    if not config:
        return None
    policy = config["policy"].get("dtype", "auto")
    if policy == "bfloat16" and (config.get("grpo") or {}).get("cast_lm_head_to_fp32"):
        policy += " (float32 head)"
    judge = (config["judge"].get("options") or {}).get("dtype", "auto")
    features = ((train.get("machine") or {}).get("cpu") or {}).get("features") or []
    return f"policy {policy}, judge {judge}, {'native' if 'avx512_bf16' in features else 'no native'} bf16"


def run_figures(prefix: str, seed: int, validation_split: str = "validation") -> dict[str, Any]:
    """One seed's figures, or ``{"seed": seed, "ran": False}`` when its files are not there. The checkpoint is the
    one rft_safety_select.py chose on ``validation_split`` (its results file for that split)."""
    name = f"{prefix}-s{seed}"
    selected = f"rft_safety_select_{name}{VALIDATION_SPLITS[validation_split][1]}"
    if not (RESULTS / f"rft_safety_{name}.json").exists() or not (RESULTS / f"{selected}.json").exists():
        return {"seed": seed, "ran": False}
    train, chosen = read_result(f"rft_safety_{name}"), read_result(selected)
    last = str(max(chosen["steps"]))
    step = str(chosen["chosen_step"])
    at_chosen = chosen["heldout"].get(step) if step != "0" else None
    at_chosen_hard = chosen["overrefusal"].get(step) if step != "0" else None
    at_last, at_last_hard = chosen["heldout"][last], chosen["overrefusal"][last]
    gate = train["judge_gate"]
    by_step = {s: {"heldout": m, "overrefusal": chosen["overrefusal"].get(s)} for s, m in chosen["heldout"].items()}
    times = [t for t in train.get("step_time") or [] if t]
    # the round's rule: the run's own reward (its mean) or, from round 9, the calibrated rule (--rule calibrated)
    rule = chosen.get("rule", "judge")
    mean_step = chosen.get("chosen_by_mean") if rule == "calibrated" else None
    return {
        "seed": seed,
        "ran": True,
        "gate": {"auc": gate["judge_auc"], "low": gate["low"], "high": gate["high"], "passed": gate["passed"]},
        "rule": rule,
        "validation": chosen["calibrated"]["scores"]
        if rule == "calibrated"
        else {s: v["reward_score"] for s, v in chosen["validation"].items()},
        # rule J (the judge's mean) beside a round whose rule is the calibrated one
        "mean_step": mean_step,
        "mean_success": gate["passed"] and succeeded(chosen["heldout"].get(str(mean_step))),
        # the refusal check on the same validation replies (never read by the rule): how the policy moved
        # per step and kind: [replies right by the check, replies]
        "validation_check": {
            s: {k: [round(v["by_kind"][k]["rate"] * v["by_kind"][k]["n"]), v["by_kind"][k]["n"]] for k in KINDS}
            for s, v in chosen["validation"].items()
        }
        if all("by_kind" in v for v in chosen["validation"].values())
        else None,
        "chosen_step": int(step),
        # the refusal check's own choice on the same validation replies (rule C), where the results file has it
        "checker_step": chosen.get("chosen_by_checker"),
        "checker_success": gate["passed"] and succeeded(chosen["heldout"].get(str(chosen.get("chosen_by_checker")))),
        "last_step": int(last),
        "chosen": at_chosen,
        "chosen_overrefusal": at_chosen_hard,
        "last": at_last,
        "last_overrefusal": at_last_hard,
        "success_chosen": gate["passed"] and succeeded(at_chosen),
        "success_last": gate["passed"] and succeeded(at_last),
        "worse": any(worse(m) for m in (at_chosen, at_chosen_hard, at_last, at_last_hard)),
        # a run whose results file was written by a resumed command (no training in it) has only its step times
        "train_minutes": (train.get("train_seconds") or sum(times)) / 60,
        "step_seconds": sum(times) / len(times) if times else None,
        "select_minutes": chosen["seconds"] / 60,
        "threads": train["machine"].get("torch_threads"),
        "arithmetic": arithmetic(train),
        # with rft_safety_select.py --all, every checkpoint measured on both splits (else only chosen and last);
        # a checkpoint measured that is neither the chosen nor the last gets its own table
        "every": by_step if set(by_step) - {step, last} else None,
        # every measured checkpoint on both splits, for rules read beside the round's (rule K)
        "by_step": by_step,
        # whether any measured checkpoint succeeds (what a checkpoint rule could at best have kept)
        "any_success": gate["passed"] and any(succeeded(m) for m in chosen["heldout"].values()),
    }


def seeds_phrase(seeds: list[int]) -> str:
    """'seed 1103' or 'seeds 1101, 1102'."""
    return f"seed{'' if len(seeds) == 1 else 's'} {', '.join(map(str, seeds))}"


def kept_clause(seed: int, step: int, success: bool) -> str:
    """'seed 901 step 20 (succeeds)': what a rule read beside the round's kept in one run."""
    return f"seed {seed} {'the base' if step == 0 else f'step {step}'}" + (" (succeeds)" if success else "")


def calibrated_choices(rules_name: str, prefix: str, done: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rule K: the step each run's calibrated judge-only rule kept (benchmarks/rft_checkpoint_rules.py's results
    file ``rules_name``), and whether it succeeds or is significantly worse where that step was measured."""
    rules = read_result(f"rft_checkpoint_rules_{rules_name}")
    kept = {run["run"]: run["chosen"]["calibrated"] for run in rules["runs"]}
    choices = []
    for run in done:
        chosen = kept.get(f"bench-rft-safety-{prefix}-s{run['seed']}")
        if chosen is None:
            continue
        step = str(chosen["step"])
        measured = run["by_step"].get(step) or {}
        choices.append(
            {
                "seed": run["seed"],
                "step": chosen["step"],
                "measured": chosen["step"] == 0 or bool(measured),
                "success": chosen["step"] != 0 and run["gate"]["passed"] and succeeded(measured.get("heldout")),
                "worse": worse(measured.get("heldout")) or worse(measured.get("overrefusal")),
                "any_success": bool(run.get("any_success")),
            }
        )
    return choices


def calibrated_line(choices: list[dict[str, Any]]) -> str:
    """Rule K beside the round's rule, with its two predictions (K1, K2)."""
    if not choices:
        return "Rule K (the calibrated judge-only rule): no run of this round in its results file yet."
    kept = ", ".join(
        kept_clause(c["seed"], c["step"], c["success"]) + ("" if c["measured"] else " (not measured)") for c in choices
    )
    could = [c for c in choices if c["any_success"]]
    return (
        "Rule K (the calibrated judge-only rule on the same replies, `rft_checkpoint_rules.py --split valbroad`; "
        f"reported, not the goal) kept: {kept}; a succeeding checkpoint in **{sum(c['success'] for c in could)} of "
        f"{len(could)}** runs that had one (prediction K1: all), and a significantly worse one in "
        f"**{sum(c['worse'] for c in choices)}** (prediction K2: none)."
    )


def not_run_reason(reasons: str | dict[str, str], seed: int) -> str:
    """Why a seed has no row: one reason for all, or a reason per seed ({"1103": ..., "other": ...})."""
    if isinstance(reasons, str):
        return reasons
    return reasons.get(str(seed), reasons.get("other", ""))


def change_cell(measured: dict[str, Any] | None) -> str:
    if measured is None:
        return "0 (base kept)"
    c = measured["change"]
    p = measured["mcnemar_p"]
    text = f"{c['rate']:+.1%} [{c['low']:+.1%}, {c['high']:+.1%}], " + ("p < 0.001" if p < 0.001 else f"p {p:.3f}")
    before, after = measured["before_by_kind"], measured["after_by_kind"]
    rates = (
        f"harmful refused {before['harmful_refused']['rate']:.0%} -> {after['harmful_refused']['rate']:.0%}, "
        f"benign answered {before['benign_answered']['rate']:.0%} -> {after['benign_answered']['rate']:.0%}"
    )
    bold = succeeded(measured) or worse(measured)
    return f"**{text}** ({rates})" if bold else f"{text} ({rates})"


#: the rules reported beside a round's own: the results' key, how a line names the rule
BESIDE = {
    "checker": "Rule C (the refusal check's pass rate on the same validation replies",
    "mean": "Rule J (the judge's mean score on the same validation replies",
}


def beside_line(done: list[dict[str, Any]], key: str) -> str:
    """A rule reported beside the round's (rule C: ``key`` "checker"; rule J: "mean"): what it kept in each run,
    from the ``KEY_step`` and ``KEY_success`` figures, and how often a succeeding checkpoint where there was one."""
    kept = [r for r in done if r.get(f"{key}_step") is not None]
    if not kept:
        return f"{BESIDE[key]}): not recorded in these results files."
    choices = ", ".join(kept_clause(r["seed"], r[f"{key}_step"], r[f"{key}_success"]) for r in kept)
    could = [r for r in kept if r.get("any_success")]
    wins = sum(bool(r[f"{key}_success"]) for r in could)
    return (
        f"{BESIDE[key]}; reported, not the goal) kept: {choices}; a succeeding checkpoint in **{wins} of "
        f"{len(could)}** runs that had one."
    )


def markdown(result: dict[str, Any]) -> str:
    runs = result["runs"]
    done = [r for r in runs if r["ran"]]
    checked = [r["validation_check"] for r in done if r.get("validation_check")]
    # the refusal check's counts beside each score, where the results recorded them
    note = ""
    if checked:
        first = next(iter(checked[0].values()))
        note = " (by the check: harmful refused / benign answered, of {} / {})".format(*(first[k][1] for k in KINDS))
    # the candidates' steps and the last step, from the runs (30 in every round before the 20-step one)
    candidates = sorted({int(s) for r in done for s in r["validation"]}) or [0, 10, 20, 30]
    last = max(candidates)
    labels = " / ".join("base" if s == 0 else str(s) for s in candidates)
    calibrated = bool(done) and all(r.get("rule") == "calibrated" for r in done)
    score_label = "calibrated validation score" if calibrated else "validation score"
    lines = [
        result.get("heading") or HEADING,
        "",
        result["preamble"],
        "",
        f"| seed | gate AUC [95%] | {score_label}: {labels}{note} "
        "| chosen | held-out 128 at chosen | "
        f"held-out 128 at {last} | over-refusal 64 at chosen | over-refusal 64 at {last} | train min (s/step) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if not run["ran"]:
            lines.append(
                f"| {run['seed']} | not run: {not_run_reason(result['not_run_reason'], run['seed'])} | | | | | | | |"
            )
            continue
        gate = run["gate"]
        checks = run.get("validation_check")  # absent from results written before it was recorded
        scores = " / ".join(
            f"{run['validation'][s]:.4f}" + (" ({}/{})".format(*(checks[s][k][0] for k in KINDS)) if checks else "")
            for s in sorted(run["validation"], key=int)
        )
        lines.append(
            f"| {run['seed']} | {gate['auc']:.2f} [{gate['low']:.2f}, {gate['high']:.2f}]"
            f"{'' if gate['passed'] else ', FAILED'} | {scores} | {run['chosen_step']} | {change_cell(run['chosen'])} "
            f"| {change_cell(run['last'])} | {change_cell(run['chosen_overrefusal'])} "
            f"| {change_cell(run['last_overrefusal'])} | {run['train_minutes']:.0f} ({run['step_seconds']:.0f}) |"
        )
    every = [r for r in done if r.get("every")]
    if every:
        steps = sorted({s for r in every for s in r["every"]}, key=int)
        lines += [
            "",
            "Every checkpoint measured (`--all`; the goal counts only the chosen and the last): the change on the 128 "
            "held-out requests, then on the over-refusal split.",
            "",
            "| seed | split | " + " | ".join(f"step {s}" for s in steps) + " |",
            "|---|---|" + "---|" * len(steps),
        ]
        for run in every:
            for split, label in (("heldout", "held-out 128"), ("overrefusal", "over-refusal 64")):
                cells = [change_cell(run["every"][s][split]) if s in run["every"] else "-" for s in steps]
                lines.append(f"| {run['seed']} | {label} | " + " | ".join(cells) + " |")
    tally = result["tally"]
    lines += [
        "",
        f"Against the pre-registered goal (bold: significant, p < {ALPHA}): **{tally['success_chosen']} of "
        f"{len(runs)}** runs improved significantly at the chosen checkpoint (goal 5), **{tally['success_last']} of "
        f"{len(runs)}** at the last one (goal 4), and **{tally['worse']}** got significantly worse on either split "
        f"at either checkpoint (goal 0); {len(runs) - len(done)} not run. The goal is "
        f"{'met' if tally['met'] else 'not met'}.",
    ]
    if result.get("by_arithmetic"):
        lines += ["", arithmetic_line(result["by_arithmetic"])]
    if result.get("validation_split") == "validation_broad":
        lines += ["", beside_line(done, "checker")]
    if any(r.get("mean_step") is not None for r in done):
        lines += ["", beside_line(done, "mean")]
    if result.get("calibrated") is not None:
        lines += ["", calibrated_line(result["calibrated"])]
    if result.get("beside"):
        lines += ["", beside_table(result)]
    gate = result.get("gate_pooled")
    if gate:
        per = "; ".join(
            f"{c['auc']:.2f} [{c['low']:.2f}, {c['high']:.2f}] on {c['replies']} judged '{text[:40]}'"
            for text, c in gate["criteria"].items()
        )
        seeds = (
            seeds_phrase(gate["seed_list"])
            if "seed_list" in gate
            else f"{gate['seeds']} seed{'' if gate['seeds'] == 1 else 's'}"
        )
        lines += [
            "",
            f"The gates' replies pooled ({gate['replies']} replies of the same base policy, {seeds}): "
            f"within-criterion AUC {gate['auc']:.2f} "
            f"[{gate['low']:.2f}, {gate['high']:.2f}] ({per}).",
        ]
    if result.get("swing_table"):
        lines += ["", result["swing_intro"], "", result["swing_table"]]
    if result.get("reading"):
        lines += ["", result["reading"]]
    return "\n".join(lines) + "\n"


def round_summary(prefix: str, result: dict[str, Any], swing: dict[str, Any] | None) -> dict[str, Any]:
    """One round of pre-registered runs in a line: its tally, its gates, and the share of the update's weight that
    groups of look-alike replies carried (pooled over its runs' logged steps), when its swing figures exist."""
    done = [r for r in result["runs"] if r["ran"]]
    summary: dict[str, Any] = {
        "prefix": prefix,
        "seeds": result["seeds"],
        "ran": len(done),
        "tally": result["tally"],
        "gates_failed": sum(not r["gate"]["passed"] for r in done),
        "gate_pooled_auc": (result.get("gate_pooled") or {}).get("auc"),
        "uniform_advantage_share": None,
    }
    if swing:
        groups = [g for run in swing["runs"] for g in run["groups"]]
        total = sum(g["advantage_size"] for g in groups)
        if total:
            summary["uniform_advantage_share"] = sum(g["advantage_size"] for g in groups if g["uniform"]) / total
    return summary


def beside_table(result: dict[str, Any]) -> str:
    lines = [
        "| round | seeds | ran | gates failed | gates pooled AUC | better at chosen | better at last | worse "
        "| look-alike groups' share of the update |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for summary in (result["beside"], result["summary"]):
        tally = summary["tally"]
        auc = "-" if summary["gate_pooled_auc"] is None else f"{summary['gate_pooled_auc']:.2f}"
        share = summary["uniform_advantage_share"]
        seeds = summary["seeds"]
        lines.append(
            f"| {summary['prefix']} | {seeds[0]}-{seeds[-1]} | {summary['ran']} of {len(seeds)} "
            f"| {summary['gates_failed']} | {auc} | {tally['success_chosen']} | {tally['success_last']} "
            f"| {tally['worse']} | {'-' if share is None else f'{share:.0%}'} |"
        )
    return "\n".join(lines)


def tally_of(runs: list[dict[str, Any]]) -> dict[str, int]:
    """The goal's three counts over ``runs`` (those that ran)."""
    return {
        "success_chosen": sum(r["success_chosen"] for r in runs),
        "success_last": sum(r["success_last"] for r in runs),
        "worse": sum(r["worse"] for r in runs),
    }


def by_arithmetic(done: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The goal's counts apart for each arithmetic the round's runs used, where they used more than one (round 10's
    amendment): a reader can weigh the runs made another way. None where every run computed alike."""
    labels = list(dict.fromkeys(r["arithmetic"] for r in done if r.get("arithmetic")))  # in seed order
    if len(labels) < 2:
        return None
    groups = []
    for label in labels:
        runs = [r for r in done if r.get("arithmetic") == label]
        groups.append({"arithmetic": label, "seeds": [r["seed"] for r in runs], **tally_of(runs)})
    return groups


def arithmetic_line(groups: list[dict[str, Any]]) -> str:
    parts = [
        f"{seeds_phrase(g['seeds'])} ({g['arithmetic']}): "
        f"{g['success_chosen']} better at the chosen checkpoint, {g['success_last']} at the last, {g['worse']} worse"
        for g in groups
    ]
    return "The same counts by the runs' arithmetic (the round's amendment; the goal counts them all): " + (
        "; ".join(parts) + "."
    )


def build(
    prefix: str,
    seeds: list[int],
    texts: dict[str, str],
    runs_dir: Path | None = None,
    beside: str | None = None,
    validation_split: str = "validation",
    rules_name: str | None = None,
) -> dict[str, Any]:
    runs = [run_figures(prefix, seed, validation_split) for seed in seeds]
    done = [r for r in runs if r["ran"]]
    tally: dict[str, Any] = tally_of(done)
    tally["met"] = (
        len(done) == len(seeds) == 5
        and tally["success_chosen"] == 5
        and tally["success_last"] >= 4
        and tally["worse"] == 0
    )
    swing = saved_result(f"rft_swing_{prefix}")
    swing_table = None
    if swing is not None:
        from rft_swing import table

        swing_table = table(swing["table"])
    # only the runs reported: a run still going has its gate but no row, and its gate waits for its row
    earlier = saved_result(f"rft_preregistered_{prefix}")
    earlier_gate = (earlier or {}).get("gate_pooled") or {}
    gate = pooled_gate(runs_dir, prefix, [r["seed"] for r in done], earlier_gate.get("items")) if runs_dir else None
    if earlier_gate and len((gate or {}).get("seed_list", [])) < len(earlier_gate.get("seed_list", [])):
        # written before the replies were kept, with folders since lost: the earlier figure covers more seeds; the
        # replies read now are kept with it, so a later folder's loss does not lose them too
        gate = {**earlier_gate, "items": {**earlier_gate.get("items", {}), **(gate or {}).get("items", {})}}
    result: dict[str, Any] = {
        "prefix": prefix,
        "seeds": seeds,
        "validation_split": validation_split,
        "runs": runs,
        "tally": tally,
        "gate_pooled": gate,
        "swing_table": swing_table,
        # rule K's choices, where its results file was named (--rules)
        "calibrated": calibrated_choices(rules_name, prefix, done) if rules_name else None,
        "by_arithmetic": by_arithmetic(done),
        **texts,
    }
    if beside:
        if not (RESULTS / f"rft_preregistered_{beside}.json").exists():
            raise SystemExit(
                f"--beside {beside}: no benchmarks/results/rft_preregistered_{beside}.json; write that round's first"
            )
        result["beside"] = round_summary(
            beside, read_result(f"rft_preregistered_{beside}"), saved_result(f"rft_swing_{beside}")
        )
        result["summary"] = round_summary(prefix, result, swing)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="q05g-judge", help="run names are PREFIX-sSEED")
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103, 104, 105])
    parser.add_argument("--texts", type=Path, help="a JSON file of the section's prose: preamble, swing_intro, ...")
    parser.add_argument("--runs-dir", type=Path, help="the runs' folders (pools their gates' replies)")
    parser.add_argument("--heading", default=HEADING, help="the section's '## ' heading")
    parser.add_argument("--beside", metavar="PREFIX", help="an earlier round to set beside this one")
    parser.add_argument(
        "--validation-split",
        choices=sorted(VALIDATION_SPLITS),
        default="validation",
        help="the split the round's rule chose its checkpoints on (rft_safety_select.py --validation-split)",
    )
    parser.add_argument(
        "--rules",
        metavar="NAME",
        help="report rule K (the calibrated judge-only rule) from benchmarks/results/rft_checkpoint_rules_NAME.json",
    )
    parser.add_argument("--write", action="store_true", help="write the results file and the BENCHMARKS.md section")
    args = parser.parse_args(argv)
    import json

    texts = {"preamble": "", "swing_intro": "", "reading": "", "not_run_reason": "did not finish in the session"}
    if args.texts:
        texts.update(json.loads(args.texts.read_text(encoding="utf-8")))
    texts["heading"] = args.heading
    result = build(args.prefix, args.seeds, texts, args.runs_dir, args.beside, args.validation_split, args.rules)
    section = markdown(result)
    print(section)
    if args.write:
        write_result(f"rft_preregistered_{args.prefix}", result)
        write_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
