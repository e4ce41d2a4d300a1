"""RFT on IFEval: does GRPO with a small LLM judge make a small policy follow verifiable instructions better?

SmolLM2-135M-Instruct (LoRA) is trained with GRPO for --steps steps on IFEval prompts whose constraints a short
answer can meet (examples/ifeval/ifeval_short.jsonl), rewarded by Qwen2.5-Coder-0.5B judging each prompt's own
constraints (log-prob verdicts). Before and after, the policy answers --holdout held-out prompts greedily; the
judge scores them and IFEval's program checkers (judgerl.checks.ifeval) check them independently. The result is
the checkers' pass rate before and after with 95% intervals, and the paired change with a bootstrap interval and
an exact McNemar test. The judge never sees the checkers' results.

Long (about an hour on 2 CPU cores): every phase is resumable, so run it in the background and rerun the same
command after an interruption:

    nohup python benchmarks/rft_ifeval.py > benchmarks/results/rft_ifeval.log 2>&1 &

Writes benchmarks/results/rft_ifeval.json and the "## RFT on IFEval" section of BENCHMARKS.md. With
--checker-weight W it runs a control instead (runs/bench-rft-ifeval-checker, rft_ifeval_checker.json, its own
section): the checker's fraction of instructions followed is added to the reward with weight W, which tells
whether 100 steps of this set-up can move the checker's pass rate at all when the reward tracks it.
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

from common import ROOT, machine, write_result, write_section
from judgerl.checks import ifeval
from judgerl.stats import auc
from judgerl.train.config import load_config
from judgerl.train.data import load_prompt_rows
from judgerl.train.evaluate import EvalReport, compare, evaluate, load_items
from judgerl.train.rubrics import criterion_name
from judgerl.train.runner import complete_checkpoints, train

SECTION = "## RFT on IFEval"
CONTROL_SECTION = "## RFT on IFEval, control: the checker in the reward"


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def load_average() -> float:
    return os.getloadavg()[0]


def run_eval(config: Any, policy: str, label: str, backend: Any) -> EvalReport:
    saved = config.run_dir / "eval" / f"{label}.json"
    if saved.exists():
        logging.info("%s: already evaluated (%s)", label, saved)
        report = EvalReport.model_validate_json(saved.read_text())
        report.items = load_items(saved.with_suffix(".jsonl"))
        return report
    return evaluate(config, policy, label=label, backend=backend)


def training_completions(config: Any) -> dict[str, Any]:
    """On-policy evidence from TRL's completions tables: the checker's pass rate of the sampled completions early
    and late in training, and how well the judge's P(PASS) ranked them (AUC against the checker)."""
    import pandas as pd

    rows, _ = load_prompt_rows(config)
    by_prompt = {row.user_text: row for row in rows}
    early, late, positives, negatives = [], [], [], []
    files = sorted((config.run_dir / "completions").glob("completions_*.parquet"))
    steps = len(files)
    for index, path in enumerate(files):
        table = pd.read_parquet(path)
        for _, record in table.iterrows():
            messages = list(record["prompt"])
            row = by_prompt.get(next((m["content"] for m in reversed(messages) if m["role"] == "user"), ""))
            if row is None:
                continue
            completion = record["completion"]
            text = completion if isinstance(completion, str) else "".join(m["content"] for m in completion)
            ids, kwargs = row.metadata["instruction_id_list"], row.metadata["kwargs"]
            results = ifeval.check_row(ids, kwargs, text)
            followed = ifeval.all_followed(results)
            if followed is not None:
                (early if index < steps // 5 else late if index >= steps - steps // 5 else []).append(followed)
            p_pass = json.loads(record.get("judge_p_pass") or "{}")
            for kind, result in zip(ids, results, strict=True):
                probability = p_pass.get(criterion_name(kind))
                if result is not None and probability is not None:
                    (positives if result else negatives).append(probability)
    return {
        "steps_logged": steps,
        "checker_pass_first_fifth": sum(early) / len(early) if early else None,
        "checker_pass_last_fifth": sum(late) / len(late) if late else None,
        "completions_first_fifth": len(early),
        "completions_last_fifth": len(late),
        "judge_checker_auc": auc(positives, negatives),
        "judged_instructions": len(positives) + len(negatives),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--holdout", type=int, default=48, help="held-out prompts (the last N of the file)")
    parser.add_argument("--prompts-per-step", type=int, default=2)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--completion-tokens", type=int, default=40)
    parser.add_argument("--output-dir", type=Path, default=None, help="default: runs/<benchmark name>")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--checker-weight",
        type=float,
        default=0.0,
        help="control run: also reward the IFEval checker's fraction of instructions followed with this weight "
        "(the checker is then no longer an independent measure; results go to their own file and section)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    control = args.checker_weight > 0
    name = "bench-rft-ifeval-checker" if control else "bench-rft-ifeval"
    output_dir = args.output_dir or ROOT / "runs" / name
    checks = [{"name": "not_empty", "type": "length", "min": 3, "role": "gate"}]
    if control:
        checks.append({"name": "ifeval", "type": "ifeval", "role": "reward", "weight": args.checker_weight})
    overrides = [
        f"name={name}",
        f"output_dir={output_dir}",
        f"reward.checks={json.dumps(checks)}",
        "data.limit=null",
        f"data.eval.holdout={args.holdout}",
        f"grpo.max_steps={args.steps}",
        f"grpo.num_generations={args.generations}",
        f"grpo.per_device_train_batch_size={args.prompts_per_step * args.generations}",
        f"grpo.max_completion_length={args.completion_tokens}",
        "grpo.save_steps=10",
        *([f"threads={args.threads}"] if args.threads else []),
    ]
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # before the judge and the evaluations, not only for training
    config = load_config(ROOT / "examples" / "ifeval" / "config.yaml", overrides)
    started, cpu_started, load_started = time.perf_counter(), cpu_seconds(), load_average()
    phases: dict[str, float] = {}
    backend = config.judge.build_backend()
    try:
        t = time.perf_counter()
        before = run_eval(config, "base", "before", backend)
        phases["eval_before_s"] = time.perf_counter() - t
        t = time.perf_counter()
        summary_path = config.run_dir / "train_summary.json"
        done = summary_path.exists() and json.loads(summary_path.read_text())["steps"] >= args.steps
        if not done:
            result = train(config, resume=bool(complete_checkpoints(config.run_dir)), backend=backend)
            logging.info("trained %d steps in %.0f s", result.steps, result.seconds)
        phases["train_s"] = time.perf_counter() - t
        t = time.perf_counter()
        after = run_eval(config, str(config.run_dir / "final"), "after", backend)
        phases["eval_after_s"] = time.perf_counter() - t
    finally:
        backend.close()
    change = compare(before.items, after.items)
    metrics = [json.loads(line) for line in (config.run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "reward" in m]
    payload = {
        "machine": machine(),
        "load_average_start_end": [load_started, load_average()],
        "wall_s": time.perf_counter() - started,
        "cpu_s": cpu_seconds() - cpu_started,
        "phases": phases,
        "settings": vars(args) | {"output_dir": str(output_dir)},
        "train_prompts": len(steps) * args.prompts_per_step,
        "step_time_mean_s": sum(m.get("step_time") or 0 for m in steps) / max(1, len(steps)),
        "judge_wait_fraction_mean": sum(m.get("judge/wait_fraction") or 0 for m in steps) / max(1, len(steps)),
        "reward_first_10": _mean([m["reward"] for m in steps[:10]]),
        "reward_last_10": _mean([m["reward"] for m in steps[-10:]]),
        "before": before.model_dump(),
        "after": after.model_dump(),
        "paired": change.model_dump(),
        "training_completions": training_completions(config),
    }
    write_result(name.removeprefix("bench-").replace("-", "_"), payload)
    write_section(markdown(payload))
    logging.info("done: %s", json.dumps(payload["paired"]))


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(interval: dict[str, Any] | None) -> str:
    if not interval:
        return "-"
    return f"{interval['rate']:.1%} [{interval['low']:.1%}, {interval['high']:.1%}]"


def markdown(payload: dict[str, Any]) -> str:
    """The BENCHMARKS.md section (the run's, or the control run's with --checker-weight), from the results file."""
    before, after, paired = payload["before"], payload["after"], payload["paired"]
    settings = payload["settings"]
    weight = settings.get("checker_weight") or 0.0
    title = CONTROL_SECTION if weight > 0 else SECTION
    reward = "reward = Qwen2.5-Coder-0.5B log-prob verdicts on each prompt's own constraints"
    if weight > 0:
        reward += (
            f" plus {weight:g} x the IFEval checker's fraction of the prompt's instructions followed (a control: the "
            "checker below is then part of the reward, not an independent measure)"
        )
    rows = [
        ("IFEval checker, prompt-level pass", _pct(before["checker_pass"]), _pct(after["checker_pass"])),
        (
            "IFEval checker, instruction-level pass",
            _pct(before["checker_instruction_pass"]),
            _pct(after["checker_instruction_pass"]),
        ),
        ("judge (Qwen-0.5B): all criteria pass", _pct(before["judge_pass"]), _pct(after["judge_pass"])),
        ("judge: mean soft score", f"{before['judge_score_mean']:.3f}", f"{after['judge_score_mean']:.3f}"),
        ("judge-checker agreement (per instruction)", f"{before['agreement']:.1%}", f"{after['agreement']:.1%}"),
        ("judge P(PASS) vs checker, AUC", _num(before.get("judge_checker_auc")), _num(after.get("judge_checker_auc"))),
    ]
    lines = [
        title,
        "",
        f"`python benchmarks/rft_ifeval.py --steps {settings['steps']} --holdout {settings['holdout']} "
        f"--prompts-per-step {settings['prompts_per_step']}"
        + (f" --threads {settings['threads']}" if settings.get("threads") else "")
        + (f" --checker-weight {weight:g}" if weight > 0 else "")
        + "` "
        f"({payload['machine']['cpu_count']} CPU cores, shared; load average "
        f"{payload['load_average_start_end'][0]:.1f} at start, {payload['load_average_start_end'][1]:.1f} at end; "
        f"wall {payload['wall_s'] / 60:.0f} min). SmolLM2-135M-Instruct + LoRA r=16, GRPO {settings['steps']} steps x "
        f"{settings['prompts_per_step']} prompts x {settings['generations']} completions of <= "
        f"{settings['completion_tokens']} tokens, {reward}. "
        "Held-out prompts answered greedily before and after; "
        "95% Wilson intervals.",
        "",
        "| held-out measure | before | after |",
        "|---|---|---|",
        *[f"| {name} | {b} | {a} |" for name, b, a in rows],
        "",
    ]
    if paired.get("checker_difference"):
        d = paired["checker_difference"]
        lines.append(
            f"Paired change of the checker's prompt-level pass rate: {d['rate']:+.1%} "
            f"(bootstrap 95% [{d['low']:+.1%}, {d['high']:+.1%}], n={paired['prompts']}, exact McNemar "
            f"p={paired['checker_mcnemar_p']:.3f}). Training reward, mean of the first / last 10 steps: "
            f"{payload['reward_first_10']:.3f} / {payload['reward_last_10']:.3f}; mean step "
            f"{payload['step_time_mean_s']:.0f} s, of which waiting for the judge "
            f"{payload['judge_wait_fraction_mean']:.0%}."
        )
        lines.append("")
    sampled = payload["training_completions"]
    if sampled["checker_pass_first_fifth"] is not None:
        lines.append(
            f"On the completions sampled during training (on-policy, temperature 1): checker prompt-level pass "
            f"{sampled['checker_pass_first_fifth']:.1%} in the first fifth of the steps "
            f"(n={sampled['completions_first_fifth']}) and {sampled['checker_pass_last_fifth']:.1%} in the last "
            f"fifth (n={sampled['completions_last_fifth']}); the judge's P(PASS) ranked checker-passed above "
            f"checker-failed instructions with AUC {_num(sampled['judge_checker_auc'])} "
            f"(n={sampled['judged_instructions']})."
        )
        lines.append("")
    by_kind = sorted(set(before["checker_by_instruction"]) | set(after["checker_by_instruction"]))
    if by_kind:
        lines += [
            "| instruction type | checker before | checker after | judge before | judge after |",
            "|---|---|---|---|---|",
        ]
        for kind in by_kind:
            cells = [report["checker_by_instruction"].get(kind) for report in (before, after)]
            cells += [report["judge_by_instruction"].get(kind) for report in (before, after)]
            lines.append(f"| {kind} | " + " | ".join("-" if c is None else f"{c:.0%}" for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
