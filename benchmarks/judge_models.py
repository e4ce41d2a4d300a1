"""Which packaged model should be the default judge? Agreement and speed, side by side in one run.

For each model: seconds per logprob verdict, and how well P(PASS) separates correct GSM8K solutions from the
same solutions with a wrong final number (AUC; balanced accuracy at 0.5 and at the best threshold), with and
without the reference shown to the judge.

Usage: python benchmarks/judge_models.py [--pairs 30] [--models qwen2.5-coder-0.5b qwen2.5-coder-1.5b]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import gsm8k_pairs, machine, write_result
from judgerl.judges.calibration import balanced_accuracy, fit_threshold
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.judges.spec import JudgeSpec
from judgerl.rubric import Rubric
from judgerl.samples import Sample
from judgerl.stats import auc

CRITERION = {
    "name": "final_answer_correct",
    "text": "The final answer in the response equals the reference's final answer.",
}
NO_REF = {"name": "final_answer_correct", "text": "The final answer in the response is correct."}


def evaluate(judge: RubricJudge, pairs: list[tuple[Sample, Sample]]) -> dict[str, float]:
    started = time.perf_counter()
    good = [v.criteria[0].p_pass or 0.0 for v in judge.judge([g for g, _ in pairs])]
    bad = [v.criteria[0].p_pass or 0.0 for v in judge.judge([b for _, b in pairs])]
    seconds = (time.perf_counter() - started) / (2 * len(pairs))
    scores, labels = good + bad, [True] * len(good) + [False] * len(bad)
    best = fit_threshold(scores, labels)
    return {
        "auc": auc(good, bad) or 0.0,
        "balanced_accuracy_at_0.5": balanced_accuracy(scores, labels, 0.5),
        "pass_rate_of_correct_at_0.5": sum(p >= 0.5 for p in good) / len(good),
        "best_threshold_in_sample": best.threshold,
        "balanced_accuracy_at_best_in_sample": best.balanced_accuracy or 0.0,
        "seconds_per_verdict": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--models", nargs="+", default=["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    args = parser.parse_args()
    pairs = gsm8k_pairs(args.pairs, seed=3)
    with_ref = Rubric.from_dict({"criteria": [CRITERION], "use_reference": True})
    without_ref = Rubric.from_dict({"criteria": [NO_REF], "use_reference": False})
    results: dict[str, dict[str, dict[str, float]]] = {}
    for model in args.models:
        spec = JudgeSpec(model=model, rationales="none")
        backend = spec.build_backend()
        spec.single_rubric_judge(with_ref, backend).judge([pairs[0][0]])  # warm-up
        results[model] = {
            "with_reference": evaluate(spec.single_rubric_judge(with_ref, backend), pairs),
            "without_reference": evaluate(spec.single_rubric_judge(without_ref, backend), pairs),
        }
        print(model, results[model], flush=True)
        backend.close()
        del backend
    path = write_result("judge_models", {"pairs": args.pairs, "machine": machine(), "models": results})
    print(f"\nwritten {path}\n")
    print(
        "| model | reference | AUC | bal. acc. @0.5 | correct passed @0.5 | bal. acc. @best (in-sample) | s/verdict |"
    )
    print("|---|---|---|---|---|---|---|")
    for model, by_ref in results.items():
        for ref, row in by_ref.items():
            print(
                f"| {model} | {ref.replace('_', ' ')} | {row['auc']:.3f} | {row['balanced_accuracy_at_0.5']:.2f} | "
                f"{row['pass_rate_of_correct_at_0.5']:.0%} | {row['balanced_accuracy_at_best_in_sample']:.2f} "
                f"(t={row['best_threshold_in_sample']:.2f}) | {row['seconds_per_verdict']:.2f} |"
            )


if __name__ == "__main__":
    main()
