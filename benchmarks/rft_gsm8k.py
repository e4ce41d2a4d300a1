"""RFT on GSM8K with a reference-based judge: does the judge's reward make a small policy solve more problems
than the base policy, and more than a reference-overlap reward on the same budget?

Qwen2.5-Coder-0.5B-Instruct (LoRA) is trained with GRPO on GSM8K problems (examples/gsm8k/), 2 problems x 4
solutions a step. Three rewards on the same budget:

- ``judge``: the packaged 1.5B judge comparing each solution with the row's reference solution
  (examples/rubrics/math_reference.yaml: the final answer is the reference's, the work is shown, one final answer);
  the judge is first measured on the base policy's own sampled solutions (AUC against the final-answer check);
- ``overlap``: the unigram F1 of the solution against the reference solution, the reward a user could write
  without a judge (examples/gsm8k/gsm8k_rewards.py);
- ``exact``: the final-answer check itself (positive control: can this budget move the measure at all?).

The independent measure is the final-answer check (judgerl.checks.gsm8k) on the 128 held-out problems, greedy,
kept out of the judge's and the overlap reward: before (the base policy, evaluated once for every run) and after
the last step. Every phase is resumable: rerun the same command after an interruption.

    python benchmarks/rft_gsm8k.py --reward judge --seed 601 --threads 1
    python benchmarks/gsm8k_table.py --seeds 601 602 603 --texts TEXTS.json --write   # the section

Writes benchmarks/results/rft_gsm8k_<reward>-s<seed>.json and the run folder runs/bench-rft-gsm8k-<reward>-s<seed>.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import hashlib
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, benchmark_config, completion_tokens, cpu, gsm8k_after_copy, judge_gate, machine, write_result
from judgerl.train.config import TrainConfig
from judgerl.train.data import load_prompt_rows
from judgerl.train.evaluate import EvalReport, compare, evaluate, load_items
from judgerl.train.runner import complete_checkpoints, train

CONFIG = ROOT / "examples" / "gsm8k" / "config.yaml"
REWARDS = {
    "judge": [],
    "overlap": ["reward.kind=none", "reward.rubric=null", "reward.functions=[{function: gsm8k_rewards:overlap}]"],
    "exact": ["reward.kind=none", "reward.rubric=null", "reward.functions=[{function: gsm8k_rewards:exact}]"],
}
#: the base policy's evaluation, shared by every run whose evaluation settings match (see base_fingerprint); kept
#: with the results and committed, since a session's machine starts empty and this evaluation took 20.5 min here
BASE_DIR = ROOT / "benchmarks" / "results" / "rft_gsm8k_base"
#: each judge run's gate (its replies and the judge's scores), kept and committed for the same reason: a run
#: started again on a new machine reads its seed's gate instead of sampling and judging it again (about 9 min)
GATES_DIR = ROOT / "benchmarks" / "results" / "rft_gsm8k_gates"


def run_overrides(args: argparse.Namespace) -> list[str]:
    """The config overrides of the run that ``args`` names (its folder: runs/bench-rft-gsm8k-REWARD-sSEED)."""
    sys.path.insert(0, str(CONFIG.parent))  # gsm8k_rewards.py for the program rewards
    name = f"bench-rft-gsm8k-{args.reward}-s{args.seed}"
    overrides = [f"name={name}", f"output_dir={ROOT / 'runs' / name}", f"seed={args.seed}", *REWARDS[args.reward]]
    if args.reward != "judge":
        overrides.append("judge.validation=null")
    if args.steps:
        overrides.append(f"grpo.max_steps={args.steps}")
    if args.threads:
        overrides.append(f"threads={args.threads}")
    return [*overrides, *args.set]


def kept_gate(args: argparse.Namespace) -> Path:
    """Where the gate of the run that ``args`` names is kept beside the results."""
    return GATES_DIR / f"{args.reward}-s{args.seed}.json"


def gate_paths(config: TrainConfig, args: argparse.Namespace) -> tuple[Path, Path]:
    """Where judge_gate reads and writes the run's gate, and where the seed's gate is kept in the repository."""
    return config.run_dir / "eval" / "judge_gate.json", kept_gate(args)


def restore_gate(config: TrainConfig, args: argparse.Namespace) -> None:
    """The kept gate into the run folder, where judge_gate looks, unless the folder has its own."""
    gate_file, kept = gate_paths(config, args)
    if kept.exists() and not gate_file.exists():
        gate_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept, gate_file)
        logging.info("judge gate: read from %s (made before, for this run's seed)", kept)


def keep_gate(config: TrainConfig, args: argparse.Namespace) -> None:
    gate_file, kept = gate_paths(config, args)
    if gate_file.exists() and not kept.exists():
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gate_file, kept)


def keep_after(config: TrainConfig, args: argparse.Namespace) -> None:
    """The run's evaluation after training (figures and held-out solutions), kept beside the results."""
    for suffix in (".json", ".jsonl"):
        kept = gsm8k_after_copy(args.reward, args.seed, suffix)
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config.run_dir / "eval" / f"after{suffix}", kept)


def base_fingerprint(config: TrainConfig) -> str:
    """What the base policy's greedy evaluation depends on: the policy, its prompt, the held-out rows, the
    completion length, and the CPU (in bf16 another CPU's kernels change a few greedy solutions: 22 and 25 of 128
    solved on two machines). A run whose fingerprint differs evaluates the base in its own folder."""
    _, held = load_prompt_rows(config)
    parts = {
        "policy": config.policy.model_dump(mode="json"),
        "held_out": [[row.prompt_id, row.reference] for row in held],
        "tokens": completion_tokens(config),
        "cpu": cpu(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_or_evaluate(config: TrainConfig, policy: str, label: str, folder: Path) -> EvalReport:
    """The checker-only evaluation of ``policy`` saved as ``folder/eval/label.json``, made when missing."""
    saved = folder / "eval" / f"{label}.json"
    if saved.exists():
        logging.info("%s: already evaluated (%s)", label, saved)
        report = EvalReport.model_validate_json(saved.read_text())
        report.items = load_items(saved.with_suffix(".jsonl"))
        return report
    where = config.model_copy(update={"output_dir": str(folder)})
    return evaluate(where, policy, label=label, judged=False)


def base_report(config: TrainConfig) -> EvalReport:
    """The base policy's evaluation, made by the first run that needs it; a run that needs it meanwhile waits on
    the lock and then reads it."""
    import fcntl

    folder = BASE_DIR / base_fingerprint(config)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "evaluating.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        report = load_or_evaluate(config, "base", "before", folder)
        if not (folder / "machine.json").exists():  # where and when it was made, kept with it
            when = {"made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **machine()}
            (folder / "machine.json").write_text(json.dumps(when, indent=2) + "\n", encoding="utf-8")
        return report


def accuracy(report: EvalReport) -> dict[str, Any]:
    from judgerl.stats import wilson

    values = [bool(item.checker_passed) for item in report.items]
    interval = wilson(sum(values), len(values))
    characters = sum(len(item.response) for item in report.items) / max(1, len(report.items))
    return {
        "rate": interval.value,
        "low": interval.low,
        "high": interval.high,
        "n": interval.n,
        "mean_characters": characters,  # the reply's length: a budget of tokens cuts long solutions short
    }


def run(args: argparse.Namespace) -> None:
    overrides = run_overrides(args)
    config = benchmark_config(CONFIG, overrides)
    started = time.perf_counter()
    judged = args.reward == "judge"
    result: dict[str, Any] = {
        "reward": args.reward,
        "seed": args.seed,
        "config": json.loads(config.model_dump_json()),
        "machine": machine(),
    }
    backend = config.judge.build_backend() if judged else None
    try:
        if judged:
            restore_gate(config, args)
        gate = judge_gate(CONFIG, overrides, config, backend, checker="gsm8k")
        if judged:
            keep_gate(config, args)
        if gate is not None:
            result["judge_gate"] = gate
        if not (config.run_dir / "final").exists():
            trained = train(config, resume=bool(complete_checkpoints(config.run_dir)), backend=backend)
            result["train_seconds"] = trained.seconds
    finally:
        if backend is not None:
            backend.close()
    # The base is evaluated after training, not before: the two runs of a seed then train side by side from the
    # start, and the first to finish evaluates the base while the other is still training.
    before = base_report(config)
    after = load_or_evaluate(config, str(config.run_dir / "final"), "after", config.run_dir)
    keep_after(config, args)
    change = compare(before.items, after.items)
    result.update(
        before=accuracy(before),
        after=accuracy(after),
        change=change.model_dump(),
        seconds=time.perf_counter() - started,
    )
    metrics = config.run_dir / "metrics.jsonl"
    if metrics.exists():
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        result["reward_per_step"] = [r.get("reward") for r in rows if "reward" in r]
        result["step_time"] = [r.get("step_time") for r in rows if "step_time" in r]
        result["completion_length"] = [r.get("completions/mean_length") for r in rows if "reward" in r]
        result["clipped_ratio"] = [r.get("completions/clipped_ratio") for r in rows if "reward" in r]
    path = write_result(f"rft_gsm8k_{args.reward}-s{args.seed}", result)
    d = change.checker_difference or {}
    print(
        f"{args.reward} seed {args.seed}: solved {result['before']['rate']:.1%} -> {result['after']['rate']:.1%} "
        f"of {change.prompts}; change {d.get('rate', float('nan')):+.1%} "
        f"[{d.get('low', float('nan')):+.1%}, {d.get('high', float('nan')):+.1%}], "
        f"McNemar p {change.checker_mcnemar_p} ({path})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reward", choices=sorted(REWARDS), required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--set", action="append", default=[], help="extra config overrides key=value")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    run(args)


if __name__ == "__main__":
    main()
