"""The llamacpp backend beside the transformers backend, one run, same samples, same rubric, same threads.

For each packaged judge: log-prob verdicts per second (each sample's criteria in one call, the shared prefix run
once), rationale tokens per second (the judge's failure-rationale prompts), and agreement of the two backends:
Spearman of P(PASS), hard verdicts at thresholds fitted on the same data (each backend its own), and AUC on the
labelled GSM8K final answers (data/gsm8k_final_answer) and on refusal-labelled replies (the 1.5B gate file in
benchmarks/results/rft_safety_gates, labelled by the refusal checker).

    PYTHONPATH=src python benchmarks/llamacpp_vs_transformers.py --models qwen2.5-coder-0.5b qwen2.5-coder-1.5b

Needs each model pulled with its GGUF (``judgerl models pull NAME --keep-gguf``). Writes
benchmarks/results/llamacpp_vs_transformers.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from common import RESULTS  # noqa: E402
from judgerl import Rubric  # noqa: E402
from judgerl.backends import JudgeBackend  # noqa: E402
from judgerl.judges.prompts import JudgedMaterial, rationale_prompt  # noqa: E402
from judgerl.judges.spec import JudgeSpec  # noqa: E402
from judgerl.samples import load_labelled, prompt_text  # noqa: E402
from judgerl.stats import roc_auc  # noqa: E402

GSM8K = ROOT / "data" / "gsm8k_final_answer" / "labelled.jsonl"
MATH = Rubric.load(ROOT / "examples" / "rubrics" / "math_reference.yaml")
GATE = RESULTS / "rft_safety_gates" / "judge-1.5b-first.json"
DEMO_CONFIG = ROOT / "examples" / "demo" / "config.yaml"


def ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            result[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(a: list[float], b: list[float]) -> float:
    return statistics.correlation(ranks(a), ranks(b))


def fitted_threshold(scores: list[float], truth: list[bool]) -> float:
    """The cut that maximises accuracy on these labels (fitted on the data it is applied to)."""
    cuts = sorted(set(scores))
    best = max(cuts, key=lambda c: sum((s >= c) == t for s, t in zip(scores, truth, strict=True)))
    return best


def judge_gsm8k(backend: JudgeBackend, limit: int) -> tuple[list[float], list[float], float, int]:
    """P(PASS) of every criterion of every sample, those of final_answer_correct, seconds, verdicts."""
    samples = load_labelled(GSM8K)[:limit]
    judge = JudgeSpec(rationales="none").single_rubric_judge(MATH, backend)
    started = time.perf_counter()
    verdicts = [judge.judge([s])[0] for s in samples]  # one call per sample: its criteria share the prefix
    seconds = time.perf_counter() - started
    every = [c.p_pass for v in verdicts for c in v.criteria]
    final = [next(c.p_pass for c in v.criteria if c.name == "final_answer_correct") for v in verdicts]
    if any(p is None for p in every):
        raise SystemExit(f"{backend.name}: unscored verdicts on GSM8K")
    return [float(p) for p in every if p is not None], [float(p) for p in final if p is not None], seconds, len(every)


def judge_refusals(backend: JudgeBackend, limit: int) -> tuple[list[float], list[bool], float]:
    from judgerl.train.config import load_config
    from judgerl.train.data import load_prompt_rows
    from judgerl.train.judging import build_judge, judge_rows

    items = json.loads(GATE.read_text())["items"][:limit]
    config = load_config(DEMO_CONFIG, ["output_dir=/tmp/llamacpp-bench", "judge.cache=false"])
    rows, _ = load_prompt_rows(config)
    by_id = {row.prompt_id: row for row in rows}
    started = time.perf_counter()
    verdicts = judge_rows(
        build_judge(config, backend), [by_id[i["prompt_id"]] for i in items], [i["reply"] for i in items]
    )
    seconds = time.perf_counter() - started
    if any(v.score is None for v in verdicts):
        raise SystemExit(f"{backend.name}: unscored refusal verdicts")
    return [float(v.score) for v in verdicts if v.score is not None], [bool(i["checker"]) for i in items], seconds


def rationales(backend: JudgeBackend, count: int, max_new_tokens: int) -> tuple[float, int, list[str]]:
    """Failure rationales for final_answer_correct on the first wrong answers: seconds, tokens, texts."""
    criterion = MATH.criterion("final_answer_correct")
    wrong = [s for s in load_labelled(GSM8K) if not s.labels["final_answer_correct"]][:count]
    prompts = [
        rationale_prompt(
            JudgedMaterial(prompt_text(s.prompt), s.response, s.reference), criterion, MATH.instructions, False
        )
        for s in wrong
    ]
    started = time.perf_counter()
    outs = [backend.generate([p], max_new_tokens)[0] for p in prompts]  # one at a time: as a judge asks
    seconds = time.perf_counter() - started
    return seconds, sum(o.completion_tokens for o in outs), [o.text or "" for o in outs]


def run_backend(name: str, model: str, args: argparse.Namespace) -> dict:
    options: dict[str, Any] = {"threads": args.threads}
    if name == "transformers":
        options["dtype"] = "float32"
    started = time.perf_counter()
    backend = JudgeSpec(backend=name, model=model, options=options).build_backend()
    load_s = time.perf_counter() - started
    try:
        every, final, gsm_s, verdicts = judge_gsm8k(backend, args.samples)
        refusal_scores, refusal_truth, refusal_s = judge_refusals(backend, args.refusals)
        gen_s, gen_tokens, texts = rationales(backend, args.rationales, args.tokens)
    finally:
        backend.close()
    return {
        "load_s": round(load_s, 2),
        "gsm8k_p_pass": every,
        "gsm8k_final_p_pass": final,
        "gsm8k_seconds": gsm_s,
        "gsm8k_verdicts": verdicts,
        "verdicts_per_s": verdicts / gsm_s,
        "refusal_scores": refusal_scores,
        "refusal_truth": refusal_truth,
        "refusal_seconds": refusal_s,
        "refusal_per_s": len(refusal_scores) / refusal_s,
        "rationale_seconds": gen_s,
        "rationale_tokens": gen_tokens,
        "rationale_tokens_per_s": gen_tokens / gen_s,
        "rationale_examples": texts[:2],
    }


def compare(tf: dict, lc: dict, gsm_truth: list[bool]) -> dict[str, Any]:
    def agree(a: list[float], b: list[float], truth: list[bool]) -> float:
        ta, tb = fitted_threshold(a, truth), fitted_threshold(b, truth)
        return sum((x >= ta) == (y >= tb) for x, y in zip(a, b, strict=True)) / len(a)

    return {
        "verdicts_per_s_ratio": lc["verdicts_per_s"] / tf["verdicts_per_s"],
        "refusal_per_s_ratio": lc["refusal_per_s"] / tf["refusal_per_s"],
        "rationale_tokens_per_s_ratio": lc["rationale_tokens_per_s"] / tf["rationale_tokens_per_s"],
        "spearman_gsm8k_all_criteria": spearman(tf["gsm8k_p_pass"], lc["gsm8k_p_pass"]),
        "spearman_refusal": spearman(tf["refusal_scores"], lc["refusal_scores"]),
        "auc_gsm8k": {
            "transformers": roc_auc(tf["gsm8k_final_p_pass"], gsm_truth),
            "llamacpp": roc_auc(lc["gsm8k_final_p_pass"], gsm_truth),
        },
        "auc_refusal": {
            "transformers": roc_auc(tf["refusal_scores"], tf["refusal_truth"]),
            "llamacpp": roc_auc(lc["refusal_scores"], lc["refusal_truth"]),
        },
        "hard_agreement_gsm8k_fitted": agree(tf["gsm8k_final_p_pass"], lc["gsm8k_final_p_pass"], gsm_truth),
        "hard_agreement_refusal_fitted": agree(tf["refusal_scores"], lc["refusal_scores"], tf["refusal_truth"]),
        "mean_abs_p_pass_difference_gsm8k": sum(
            abs(a - b) for a, b in zip(tf["gsm8k_p_pass"], lc["gsm8k_p_pass"], strict=True)
        )
        / len(tf["gsm8k_p_pass"]),
    }


def table(result: dict[str, Any]) -> str:
    """The BENCHMARKS.md table of a result file."""
    lines = [
        "| judge | verdicts/s transformers / llama.cpp (ratio) | refusal replies/s (ratio) | rationale tokens/s "
        "(ratio) | Spearman P(PASS) GSM8K / refusal | hard verdicts agree at fitted thresholds GSM8K / refusal "
        "| AUC GSM8K transformers / llama.cpp | AUC refusal transformers / llama.cpp |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model, run in result["models"].items():
        tf, lc, c = run["transformers"], run["llamacpp"], run["comparison"]
        lines.append(
            f"| {model} | {tf['verdicts_per_s']:.2f} / {lc['verdicts_per_s']:.2f} ({c['verdicts_per_s_ratio']:.1f}x) "
            f"| {tf['refusal_per_s']:.2f} / {lc['refusal_per_s']:.2f} ({c['refusal_per_s_ratio']:.1f}x) "
            f"| {tf['rationale_tokens_per_s']:.1f} / {lc['rationale_tokens_per_s']:.1f} "
            f"({c['rationale_tokens_per_s_ratio']:.1f}x) "
            f"| {c['spearman_gsm8k_all_criteria']:.3f} / {c['spearman_refusal']:.3f} "
            f"| {c['hard_agreement_gsm8k_fitted']:.0%} / {c['hard_agreement_refusal_fitted']:.0%} "
            f"| {c['auc_gsm8k']['transformers']:.3f} / {c['auc_gsm8k']['llamacpp']:.3f} "
            f"| {c['auc_refusal']['transformers']:.3f} / {c['auc_refusal']['llamacpp']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=40, help="labelled GSM8K rows judged (of 40)")
    parser.add_argument("--refusals", type=int, default=32, help="refusal-labelled replies judged (of 128)")
    parser.add_argument("--rationales", type=int, default=3, help="failure rationales generated")
    parser.add_argument("--tokens", type=int, default=64, help="max new tokens a rationale")
    parser.add_argument("--table", type=Path, default=None, help="print the table of this result file and exit")
    parser.add_argument("--out", type=Path, default=RESULTS / "llamacpp_vs_transformers.json")
    args = parser.parse_args()
    if args.table is not None:
        print(table(json.loads(args.table.read_text())))
        return
    gsm_truth = [bool(s.labels["final_answer_correct"]) for s in load_labelled(GSM8K)[: args.samples]]
    result: dict[str, Any] = {
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "threads": args.threads,
        "load_average_start": os.getloadavg(),
        "models": {},
    }
    for model in args.models:
        runs = {name: run_backend(name, model, args) for name in ("transformers", "llamacpp")}
        result["models"][model] = {**runs, "comparison": compare(runs["transformers"], runs["llamacpp"], gsm_truth)}
        print(model, json.dumps(result["models"][model]["comparison"], indent=1), flush=True)
    result["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
