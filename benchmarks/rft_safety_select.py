"""RFT for safety, checkpoint chosen on a validation split by the run's own reward, measured on 128 held-out requests.

A run of ``rft_safety.py`` saves a checkpoint every few steps, and on this task the policy swings between answering
and refusing within 10-20 steps, so its last checkpoint is a matter of luck. This script does what a user would:
it scores the base policy and every checkpoint on 32 validation requests (examples/demo/validation.jsonl, never
trained on and never in a held-out figure) with the run's *own reward* (the judge's mean score for a judge run, the
refusal check for the exact control, the keyword for the keyword run), keeps the best (ties: the earliest), and
only then measures that policy on the held-out set with the independent refusal check (examples/demo/heldout.jsonl:
the 64 held-out requests of prompts.jsonl and 64 more, half harmful, half benign), and on the over-refusal split
(examples/demo/overrefusal.jsonl: 32 benign requests that look harmful, 32 harmful ones phrased innocently), reported
apart. The base policy is a candidate too: if no checkpoint beats it on validation, the change is zero.

    python benchmarks/rft_safety_select.py --reward judge --name q05c-judge $Q05 --judge-model qwen2.5-coder-1.5b \\
        --set judge.options.dtype=bfloat16 --all

takes the same options as the rft_safety.py run it reads (runs/bench-rft-safety-NAME); ``--all`` also measures
every other checkpoint on the held-out set, for the record. Evaluations are saved in the run's eval/ folder
(val-*.json, test-*.json, hard-*.json) and reused. Writes benchmarks/results/rft_safety_select_<name>.json.

``--validation-split validation_broad`` chooses on examples/demo/validation_broad.jsonl instead (64 requests drawn
like the held-out ones; saved as valbroad-*.json) and writes rft_safety_select_<name>_broad.json; the held-out
evaluations are the same files, so a run already measured with ``--all`` is not measured again.

``--heldout-split heldout_512`` measures on examples/demo/heldout_512.jsonl instead: the 128 held-out requests and
384 more drawn like them, for a test that can tell a change of a few points from noise (saved as test512-*.json;
writes rft_safety_select_<name>[_broad]_512.json).

For a judge run with a gate (eval/judge_gate.json), the choice of ``judgerl select --rule calibrated`` is recorded
beside the mean's (``calibrated``: each step's score and the step kept; each kind's judge scores turned into
verdicts at the threshold from the run's gate, the kinds' pass shares averaged; the product's functions, not a
copy). ``--rule calibrated`` makes it the rule: its choice is the one measured and reported as ``chosen_step``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import VALIDATION_SPLITS, machine, write_result
from judgerl.train.config import TrainConfig, load_config
from judgerl.train.evaluate import EvalItem, EvalReport, compare
from judgerl.train.selection import calibrated_step_scores, choose, gate_thresholds, prompt_criteria
from rft_safety import CONFIG, add_run_options, by_kind, paired_by_kind, run_eval, run_overrides

VALIDATION = CONFIG.parent / "validation.jsonl"
#: the held-out splits a checkpoint can be measured on (examples/demo/NAME.jsonl): eval label, results-file suffix
HELDOUT_SPLITS = {"heldout": ("test", ""), "heldout_512": ("test512", "_512")}
#: the second held-out split, reported on its own: look-alike benign requests and innocently phrased harmful ones
OVERREFUSAL = CONFIG.parent / "overrefusal.jsonl"


def checkpoint_steps(run_dir: Path, max_steps: int) -> list[int]:
    """0 (the base policy) and every saved checkpoint-N up to the run's last step."""
    found = sorted(int(p.name.split("-")[1]) for p in run_dir.glob("checkpoint-*") if p.name.split("-")[1].isdigit())
    return [0, *(step for step in found if step <= max_steps)]


def reward_score(reward: str, items: list[EvalItem]) -> float | None:
    """The run's own reward, averaged over the validation replies (what the run itself optimised); None when the
    judge scored none of them (such a step cannot be chosen)."""
    if reward == "judge":
        scores = [i.judge_score for i in items if i.judge_score is not None]
        if len(scores) < len(items):
            logging.warning("%d of %d validation replies unscored by the judge", len(items) - len(scores), len(items))
        return sum(scores) / len(scores) if scores else None
    if reward == "keyword":
        from rewards import keyword  # examples/demo/rewards.py, on the path once run_overrides() has run

        return sum(keyword([], [i.response for i in items])) / len(items)
    return checker_rate(items)


def checker_rate(items: list[EvalItem]) -> float:
    return sum(bool(i.checker_passed) for i in items) / len(items)


def change(before: list[EvalItem], after: list[EvalItem], ids: set[str] | None = None) -> dict[str, Any]:
    """Paired change (after - before) on the held-out requests, or on the subset ``ids``."""
    if ids is not None:
        before = [i for i in before if i.prompt_id in ids]
        after = [i for i in after if i.prompt_id in ids]
    compared = compare(before, after)
    return {
        "prompts": compared.prompts,
        "change": compared.checker_difference,
        "mcnemar_p": compared.checker_mcnemar_p,
        "change_harmful": paired_by_kind(before, after, "harmful"),
        "change_benign": paired_by_kind(before, after, "benign"),
        "before_by_kind": by_kind(before),
        "after_by_kind": by_kind(after),
    }


def policy_of(config: TrainConfig, step: int) -> str:
    return "base" if step == 0 else str(config.run_dir / f"checkpoint-{step}")


def label_of(split: str, step: int) -> str:
    return f"{split}-base" if step == 0 else f"{split}-step{step}"


def validation_file(args: argparse.Namespace, config: TrainConfig) -> Path:
    """The validation requests: under --refuse-wording or --help-wording, the run's own copy, worded as it trained."""
    own_copy = args.refuse_wording or args.help_wording
    name = f"{args.validation_split}.jsonl"
    return config.run_dir / "data" / name if own_copy else CONFIG.parent / name


def calibrated_choice(
    validation: TrainConfig, validated: dict[int, EvalReport], prompts_file: Path
) -> dict[str, Any] | None:
    """`judgerl select --rule calibrated` on the saved validation evaluations: thresholds from the run's gate
    (eval/judge_gate.json), each step's score and the step kept; None when the run has no gate."""
    from judgerl.train.data import load_prompt_rows

    gate_dir = validation.run_dir / "eval"
    if not (gate_dir / "judge_gate.json").exists():
        return None
    thresholds = gate_thresholds(gate_dir)
    _, rows = load_prompt_rows(validation)
    criteria = prompt_criteria(validation, rows, thresholds, prompts_file)
    _, scores = calibrated_step_scores(validated, criteria, thresholds)
    return {"thresholds": thresholds, "scores": {str(s): v for s, v in scores.items()}, "chosen": choose(scores)}


def first64_ids(items: list[EvalItem]) -> set[str]:
    """The ids of the 64 held-out rows of prompts.jsonl (``harmful-NN`` / ``benign-NN`` below 64), which every
    held-out split starts with: the figure comparable with the earliest rounds'."""
    ids = set()
    for item in items:
        kind, _, number = item.prompt_id.partition("-")
        if kind in ("harmful", "benign") and number.isdigit() and int(number) < 64:
            ids.add(item.prompt_id)
    return ids


def add_heldout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--heldout-split",
        choices=sorted(HELDOUT_SPLITS),
        default="heldout",
        help="the requests a checkpoint is measured on (examples/demo/NAME.jsonl; default: heldout, 128 requests; "
        "heldout_512: those and 384 more, saved as test512-*.json, results file suffixed _512)",
    )


def add_validation_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--validation-split",
        choices=sorted(VALIDATION_SPLITS),
        default="validation",
        help="the requests the checkpoint is chosen on (examples/demo/NAME.jsonl; default: validation)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(parser)
    parser.add_argument("--all", action="store_true", help="also measure every other checkpoint on the held-out set")
    parser.add_argument(
        "--last", action="store_true", help="also measure the last checkpoint (the budget fixed beforehand) held out"
    )
    parser.add_argument(
        "--also", type=int, nargs="+", default=[], metavar="STEP", help="also measure these checkpoints held out"
    )
    parser.add_argument(
        "--rule",
        choices=("judge", "calibrated"),
        default="judge",
        help="which choice is measured and reported as chosen: the run's own reward (default), or the judge's "
        "scores calibrated at the run's gate (judge runs only)",
    )
    add_validation_option(parser)
    add_heldout_option(parser)
    args = parser.parse_args()
    if args.rule == "calibrated" and args.reward != "judge":
        parser.error("--rule calibrated weighs the judge's scores: it needs --reward judge")
    val_label, suffix = VALIDATION_SPLITS[args.validation_split]
    test_label, test_suffix = HELDOUT_SPLITS[args.heldout_split]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    overrides = run_overrides(args)
    config = load_config(CONFIG, overrides)
    validation = load_config(
        CONFIG, [*overrides, f"data.eval.path={validation_file(args, config)}", "data.eval.holdout=0"]
    )
    heldout_file = CONFIG.parent / f"{args.heldout_split}.jsonl"
    heldout = load_config(CONFIG, [*overrides, f"data.eval.path={heldout_file}", "data.eval.holdout=0"])
    overrefusal = load_config(CONFIG, [*overrides, f"data.eval.path={OVERREFUSAL}", "data.eval.holdout=0"])
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    started = time.perf_counter()
    steps = checkpoint_steps(config.run_dir, max(config.grpo.max_steps, 0))
    if len(steps) == 1:
        raise SystemExit(f"{config.run_dir}: no checkpoints to choose from")
    judged = args.reward == "judge"
    missing = [s for s in steps if not (config.run_dir / "eval" / f"{label_of(val_label, s)}.json").exists()]
    backend = config.judge.build_backend() if judged and missing else None
    try:
        validated = {
            s: run_eval(validation, policy_of(config, s), label_of(val_label, s), backend, judged) for s in steps
        }
    finally:
        if backend is not None:
            backend.close()
    scores = {s: reward_score(args.reward, report.items) for s, report in validated.items()}
    by_mean = choose(scores)  # the rule of `judgerl select`: the best score, ties to the earliest step
    by_checker = choose({s: checker_rate(report.items) for s, report in validated.items()})
    calibrated = calibrated_choice(validation, validated, validation_file(args, config)) if judged else None
    if args.rule == "calibrated" and calibrated is None:
        raise SystemExit(f"{config.run_dir / 'eval' / 'judge_gate.json'}: not found; --rule calibrated needs the gate")
    chosen = calibrated["chosen"] if calibrated is not None and args.rule == "calibrated" else by_mean
    shown = {s: v if v is None else round(v, 4) for s, v in scores.items()}
    logging.info("validation scores by step %s: step %d kept by the mean", shown, by_mean)
    if calibrated is not None:
        logging.info("calibrated scores by step %s: step %d kept", calibrated["scores"], calibrated["chosen"])
    unknown = sorted(set(args.also) - set(steps))
    if unknown:
        raise SystemExit(f"--also: no checkpoint at step {', '.join(map(str, unknown))} (saved: {steps[1:]})")
    measured = sorted({0, chosen, *args.also, *(steps if args.all else []), *(steps[-1:] if args.last else [])})
    tested = {s: run_eval(heldout, policy_of(config, s), label_of(test_label, s), None).items for s in measured}
    hard = {s: run_eval(overrefusal, policy_of(config, s), label_of("hard", s), None).items for s in measured}
    first64 = first64_ids(tested[0])
    # on a larger split, the 128 requests of heldout.jsonl (its first rows) too: the figure earlier rounds measured
    first128 = {json.loads(line)["id"] for line in (CONFIG.parent / "heldout.jsonl").open(encoding="utf-8")}
    result: dict[str, Any] = {
        "reward": args.reward,
        "run": config.name,
        "machine": machine(),
        "selection": (
            f"the judge's scores calibrated at the run's gate over {args.validation_split}.jsonl"
            if args.rule == "calibrated"
            else f"the run's own reward ({args.reward}) averaged over {args.validation_split}.jsonl"
        )
        + "; ties to the earliest step",
        "rule": args.rule,
        "validation_split": args.validation_split,
        "heldout_split": args.heldout_split,
        "steps": steps,
        "validation": {
            str(s): {
                "reward_score": scores[s],
                "checker_rate": checker_rate(r.items),
                "by_kind": by_kind(r.items),
                "judge_score_mean": r.judge_score_mean,
            }
            for s, r in validated.items()
        },
        "chosen_step": chosen,
        "chosen_by_mean": by_mean,
        "chosen_by_checker": by_checker,
        "calibrated": calibrated,
        "heldout": {str(s): change(tested[0], tested[s]) for s in measured if s},
        "heldout_first64": {str(s): change(tested[0], tested[s], first64) for s in measured if s},
        **(
            {"heldout_first128": {str(s): change(tested[0], tested[s], first128) for s in measured if s}}
            if args.heldout_split != "heldout"
            else {}
        ),
        # look-alike benign requests (benign_answered) and innocently phrased harmful ones (harmful_refused)
        "overrefusal": {str(s): change(hard[0], hard[s]) for s in measured if s},
        "seconds": time.perf_counter() - started,
    }
    path = write_result(f"rft_safety_select_{args.name or args.reward}{suffix}{test_suffix}", result)
    if chosen == 0:
        print(f"{args.reward}: no checkpoint beat the base policy on validation ({path})")
        return
    picked = result["heldout"][str(chosen)]
    d = picked["change"] or {}
    print(
        f"{args.reward}: step {chosen} chosen on validation; independent (refusal checker) change "
        f"{d.get('rate', float('nan')):+.1%} [{d.get('low', float('nan')):+.1%}, {d.get('high', float('nan')):+.1%}] "
        f"on {picked['prompts']} held-out prompts, McNemar p {picked['mcnemar_p']:.3f}; harmful refused "
        f"{picked['before_by_kind']['harmful_refused']['rate']:.0%} -> "
        f"{picked['after_by_kind']['harmful_refused']['rate']:.0%}, benign answered "
        f"{picked['before_by_kind']['benign_answered']['rate']:.0%} -> "
        f"{picked['after_by_kind']['benign_answered']['rate']:.0%} ({path})"
    )
    hard = result["overrefusal"][str(chosen)]
    h = hard["change"] or {}
    print(
        f"  over-refusal split: {h.get('rate', float('nan')):+.1%} [{h.get('low', float('nan')):+.1%}, "
        f"{h.get('high', float('nan')):+.1%}] on {hard['prompts']} prompts; innocently phrased harmful refused "
        f"{hard['before_by_kind']['harmful_refused']['rate']:.0%} -> "
        f"{hard['after_by_kind']['harmful_refused']['rate']:.0%}, "
        f"look-alike benign answered {hard['before_by_kind']['benign_answered']['rate']:.0%} -> "
        f"{hard['after_by_kind']['benign_answered']['rate']:.0%}"
    )


if __name__ == "__main__":
    main()
