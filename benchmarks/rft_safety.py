"""RFT for safety: does GRPO with an LLM judge teach a small policy to refuse harmful requests and still help?

SmolLM2-135M-Instruct (LoRA) is trained with GRPO on 64 requests (half harmful, half benign, written for this
project: examples/demo/) and evaluated greedily on 64 held-out ones. The independent measure is a program
check kept out of the reward: refusal phrases at the start of the reply (judgerl.checks.refusal) against the
row's expected behaviour (refuse a harmful request, answer a benign one). Three rewards on the same budget:

- ``judge``: the packaged judge scoring each row's criterion (refuse / help) from log-prob verdicts; the judge is
  first validated on the base policy's own sampled replies (AUC against the checker, printed);
- ``exact``: the checker itself (positive control: can this recipe learn at all?);
- ``keyword``: "sorry|cannot|can't" anywhere in the reply, the one-line reward a user could write.

    python benchmarks/rft_safety.py --reward judge --threads 2   # then exact, keyword; each resumable

Writes benchmarks/results/rft_safety_<reward>.json and the run folder runs/bench-rft-safety-<reward>.
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

from common import ROOT, benchmark_config, judge_gate, machine, write_result
from judgerl.stats import paired_difference, wilson
from judgerl.train.config import TrainConfig
from judgerl.train.evaluate import EvalItem, EvalReport, compare, evaluate, load_items
from judgerl.train.runner import complete_checkpoints, train
from rebalanced import rebalanced
from reworded import reworded

CONFIG = ROOT / "examples" / "demo" / "config.yaml"
#: the demo's recipe as it stood when the runs in BENCHMARKS.md were made (SmolLM2-135M policy, the 0.5B judge in
#: float32, lr 3e-4, no KL term, shuffled batches): pinned, so each published command reproduces its run whatever
#: examples/demo/config.yaml says now; a command's own --set and --judge-model come after and win
DEMO_AS_RUN = [
    "policy.model=smollm2-135m",
    "judge.model=qwen2.5-coder-0.5b",
    "judge.options.dtype=float32",
    "judge.overlap=false",
    "grpo.learning_rate=3e-4",
    "grpo.beta=0.0",
    "grpo.shuffle_dataset=true",
    "grpo.scale_rewards=group",
    "policy.dtype=float32",  # every published run trained the policy in float32 (the demo now picks bf16 natively)
    "grpo.cast_lm_head_to_fp32=false",
    # no published run had the demo's monitor check or monitors (they only measure, but a run as it ran has none)
    "reward.checks=[]",
    "monitors=null",
]
#: that recipe run longer and with a larger judge validation
BENCHMARK = [*DEMO_AS_RUN, "grpo.max_steps=80", "grpo.save_steps=20", "judge.validation.prompts=64"]
REWARDS = {
    "judge": [],
    "exact": ["reward.kind=none", "reward.functions=[{function: rewards:exact}]"],
    "keyword": ["reward.kind=none", "reward.functions=[{function: rewards:keyword}]"],
}


def run_eval(config: TrainConfig, policy: str, label: str, backend: Any, judged: bool = False) -> EvalReport:
    """Evaluate ``policy`` on the config's held-out prompts (the checker alone unless ``judged``), or load the
    saved evaluation of that label."""
    saved = config.run_dir / "eval" / f"{label}.json"
    if saved.exists():
        logging.info("%s: already evaluated (%s)", label, saved)
        report = EvalReport.model_validate_json(saved.read_text())
        report.items = load_items(saved.with_suffix(".jsonl"))
        return report
    return evaluate(config, policy, label=label, backend=backend, judged=judged)


def by_kind(items: list[EvalItem]) -> dict[str, Any]:
    out = {}
    for kind, expected in (("harmful_refused", "harmful"), ("benign_answered", "benign")):
        values = [bool(i.checker_passed) for i in items if i.prompt_id.startswith(expected)]
        interval = wilson(sum(values), len(values))
        out[kind] = {"rate": interval.value, "low": interval.low, "high": interval.high, "n": interval.n}
    return out


def paired_by_kind(before: list[EvalItem], after: list[EvalItem], prefix: str) -> dict[str, Any]:
    old = {i.prompt_id: i for i in before}
    pairs = [(old[i.prompt_id], i) for i in after if i.prompt_id in old and i.prompt_id.startswith(prefix)]
    diff = paired_difference(
        [float(bool(b.checker_passed)) for b, _ in pairs], [float(bool(a.checker_passed)) for _, a in pairs]
    )
    return {"rate": diff.value, "low": diff.low, "high": diff.high, "n": diff.n}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options that name a run and its config (shared with rft_safety_select.py)."""
    parser.add_argument("--reward", choices=sorted(REWARDS), required=True)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--judge-model", default=None, help="default: the config's")
    parser.add_argument("--set", action="append", default=[], help="extra config overrides key=value")
    parser.add_argument("--name", default=None, help="run name suffix (default: the reward)")
    parser.add_argument(
        "--refuse-wording",
        default=None,
        help="train and validate with this wording of the refuse criterion (benchmarks/wording/refuse_candidates.yaml)",
    )
    parser.add_argument(
        "--help-wording",
        default=None,
        help="train and validate with this wording of the help criterion (benchmarks/wording/help_candidates.yaml)",
    )
    parser.add_argument(
        "--benign-per-harmful",
        type=int,
        default=1,
        help="train on N benign requests for each harmful one (benchmarks/rebalanced.py; 1: the demo's order)",
    )


def run_overrides(args: argparse.Namespace) -> list[str]:
    """The config overrides of the run that ``args`` names (its folder: runs/bench-rft-safety-NAME)."""
    sys.path.insert(0, str(CONFIG.parent))  # rewards.py for the program rewards
    name = f"bench-rft-safety-{args.name or args.reward}"
    overrides = [f"name={name}", f"output_dir={ROOT / 'runs' / name}", *BENCHMARK, *REWARDS[args.reward], *args.set]
    if args.steps:
        overrides.append(f"grpo.max_steps={args.steps}")
    if args.threads:
        overrides.append(f"threads={args.threads}")
    if args.judge_model:
        overrides.append(f"judge.model={args.judge_model}")
    prompts = None
    if args.refuse_wording or args.help_wording:
        prompts = reworded(ROOT / "runs" / name, args.refuse_wording, args.help_wording)["prompts.jsonl"]
    if args.benign_per_harmful != 1:
        if prompts is None:  # the demo's own rows, copied into the run's folder before they are reordered
            prompts = ROOT / "runs" / name / "data" / "prompts.jsonl"
            prompts.parent.mkdir(parents=True, exist_ok=True)
            prompts.write_text((CONFIG.parent / "prompts.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
        rebalanced(prompts, args.benign_per_harmful)
    if prompts is not None:
        overrides.append(f"data.path={prompts}")
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(parser)
    parser.add_argument(
        "--at-step",
        type=int,
        default=None,
        help="evaluate the run's checkpoint-N instead of training to the end (the runs' common budget)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    overrides = run_overrides(args)
    config = benchmark_config(CONFIG, overrides)
    started = time.perf_counter()
    judged = args.reward == "judge"
    backend = config.judge.build_backend() if judged and args.at_step is None else None
    result: dict[str, Any] = {
        "reward": args.reward,
        "config": json.loads(config.model_dump_json()),
        "machine": machine(),
    }
    try:
        gate = judge_gate(CONFIG, overrides, config, backend, checker="refusal")
        if gate is not None:
            result["judge_gate"] = gate
        before = run_eval(config, "base", "before", backend)  # the checker alone (the independent measure)
        if args.at_step is not None:
            checkpoint = config.run_dir / f"checkpoint-{args.at_step}"
            if not checkpoint.exists():
                raise SystemExit(f"{checkpoint}: no such checkpoint yet")
            after = run_eval(config, str(checkpoint), f"step{args.at_step}", backend)
        elif not (config.run_dir / "final").exists():
            resume = bool(complete_checkpoints(config.run_dir))
            # reward.pass_fail_at_gate reads the thresholds of the gate this script ran (eval/judge_gate.json)
            trained = train(config, resume=resume, backend=backend, gate_dir=config.run_dir / "eval")
            result["train_seconds"] = trained.seconds
        if args.at_step is None:
            after = run_eval(config, str(config.run_dir / "final"), "after", backend)
    finally:
        if backend is not None:
            backend.close()
    change = compare(before.items, after.items)
    result.update(
        before=before.model_dump(),
        after=after.model_dump(),
        before_by_kind=by_kind(before.items),
        after_by_kind=by_kind(after.items),
        change=change.model_dump(),
        change_harmful=paired_by_kind(before.items, after.items, "harmful"),
        change_benign=paired_by_kind(before.items, after.items, "benign"),
        seconds=time.perf_counter() - started,
    )
    metrics = config.run_dir / "metrics.jsonl"
    if metrics.exists():
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        result["metrics_tail"] = rows[-3:]
        result["wait_fraction"] = [r.get("judge/wait_fraction") for r in rows if "judge/wait_fraction" in r]
        result["step_time"] = [r.get("step_time") for r in rows if "step_time" in r]
    if args.at_step is not None:
        result["at_step"] = args.at_step
        result["step_time"] = result.get("step_time", [])[: args.at_step]
        result["wait_fraction"] = result.get("wait_fraction", [])[: args.at_step]
    suffix = f"_step{args.at_step}" if args.at_step is not None else ""
    path = write_result(f"rft_safety_{args.name or args.reward}{suffix}", result)
    d = change.checker_difference or {}
    print(
        f"{args.reward}: independent (refusal checker) change {d.get('rate', float('nan')):+.1%} "
        f"[{d.get('low', float('nan')):+.1%}, {d.get('high', float('nan')):+.1%}] on {change.prompts} prompts; "
        f"harmful refused {result['before_by_kind']['harmful_refused']['rate']:.0%} -> "
        f"{result['after_by_kind']['harmful_refused']['rate']:.0%}, benign answered "
        f"{result['before_by_kind']['benign_answered']['rate']:.0%} -> "
        f"{result['after_by_kind']['benign_answered']['rate']:.0%} ({path})"
    )


if __name__ == "__main__":
    main()
