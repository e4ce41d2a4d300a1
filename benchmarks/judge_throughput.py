"""Verdicts per second of the four ways to judge 4 criteria, same model and samples, side by side.

(a) logprob with shared-prefix reuse   (b) logprob without reuse
(c) one generated JSON with reasons for all criteria (the usual Lambda recipe)   (d) one generation per criterion

Usage: python benchmarks/judge_throughput.py [--samples 8] [--model qwen2.5-coder-0.5b]
Writes benchmarks/results/judge_throughput.json and prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import gsm8k_pairs, machine, write_result
from judgerl.judges.spec import JudgeSpec
from judgerl.rubric import Rubric
from judgerl.verdicts import SampleVerdict

RUBRIC = Rubric.from_dict(
    {
        "name": "gsm8k-4",
        "instructions": "The reference is a correct worked solution whose final answer follows '####'.",
        "criteria": [
            {
                "name": "final_answer_correct",
                "text": "The final answer in the response equals the reference's final answer.",
            },
            {"name": "shows_work", "text": "The response shows the intermediate calculations."},
            {"name": "single_final_answer", "text": "The response ends by stating one final answer."},
            {"name": "on_topic", "text": "The response only discusses the math problem in the task."},
        ],
    }
)


def hard_verdicts(verdicts: list[SampleVerdict]) -> list[bool | None]:
    return [c.passed for v in verdicts for c in v.criteria]


def agreement(left: list[bool | None], right: list[bool | None]) -> float | None:
    both = [(a, b) for a, b in zip(left, right, strict=True) if a is not None and b is not None]
    return sum(a == b for a, b in both) / len(both) if both else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8, help="samples (half correct, half wrong final answer)")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    args = parser.parse_args()
    pairs = gsm8k_pairs((args.samples + 1) // 2, seed=1)
    samples = [s for pair in pairs for s in pair][: args.samples]
    logprob = JudgeSpec(model=args.model, rationales="none")
    shared = logprob.build_backend()
    unshared = logprob.model_copy(update={"options": {"share_prefix": False}}).build_backend()
    generate = JudgeSpec(model=args.model, mode="generate")
    variants = {
        "a_logprob_shared_prefix": logprob.single_rubric_judge(RUBRIC, shared),
        "b_logprob_no_reuse": logprob.single_rubric_judge(RUBRIC, unshared),
        "c_generate_one_json": generate.single_rubric_judge(RUBRIC, shared),
        "d_generate_per_criterion": generate.model_copy(update={"per_criterion_generation": True}).single_rubric_judge(
            RUBRIC, shared
        ),
    }
    logprob.single_rubric_judge(RUBRIC, shared).judge(samples[:1])  # warm-up: first-call allocations
    results: dict[str, dict[str, object]] = {}
    verdicts: dict[str, list[SampleVerdict]] = {}
    for name, judge in variants.items():
        started = time.perf_counter()
        verdicts[name] = judge.judge(samples)
        elapsed = time.perf_counter() - started
        n = len(samples) * len(RUBRIC.criteria)
        results[name] = {
            "seconds": elapsed,
            "verdicts": n,
            "verdicts_per_s": n / elapsed,
            "unscored_samples": sum(v.score is None for v in verdicts[name]),
        }
        print(f"{name}: {n / elapsed:.3f} verdicts/s ({elapsed:.1f} s)", flush=True)
    reference = hard_verdicts(verdicts["c_generate_one_json"])
    for name, row in results.items():
        row["ratio_to_c"] = float(row["verdicts_per_s"]) / float(results["c_generate_one_json"]["verdicts_per_s"])  # type: ignore[arg-type]
        row["agreement_with_c"] = agreement(hard_verdicts(verdicts[name]), reference)
    payload = {
        "model": args.model,
        "samples": len(samples),
        "criteria": len(RUBRIC.criteria),
        "machine": machine(),
        "variants": results,
    }
    path = write_result("judge_throughput", payload)
    print(f"\nwritten {path}\n")
    print("| variant | verdicts/s | x (c) | agreement with (c) | unscored samples |")
    print("|---|---|---|---|---|")
    for name, row in results.items():
        agree = row["agreement_with_c"]
        print(
            f"| {name} | {row['verdicts_per_s']:.3f} | {row['ratio_to_c']:.1f} | "
            f"{'-' if agree is None else f'{agree:.0%}'} | {row['unscored_samples']} |"
        )


if __name__ == "__main__":
    main()
