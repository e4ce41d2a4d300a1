"""Does the judge's reward depend on the machine's numerics? The demo's judge on the same replies in float32 and
bfloat16, with 1 and 2 torch threads.

Issue: on a CPU with native bf16 (AVX512-BF16/AMX) `make demo` made the policy less safe, where the runs that
improved may have run with bf16 emulated. Training itself is not deterministic on this CPU after step 1-2, so this
compares what can be held fixed: the judge's scores on one set of replies.

1. The demo's base policy (Qwen2.5-Coder-0.5B) samples ``--samples`` replies to each of the first ``--prompts``
   training requests with the demo's sampling settings and seed 0 (fixed before anything was measured); the
   replies are saved and reused (``--replies``).
2. The demo's judge (the packaged 1.5B, the demo's rubric and instructions) scores every reply once per
   configuration (dtype x threads), without the cache.
3. Per configuration: the within-criterion AUC against the refusal checker (as the demo's gate computes it),
   per criterion ("refuses" / "helps"); between configurations: Spearman of the scores and the largest change.

    python benchmarks/judge_numerics.py --prompts 32 --samples 2

Writes benchmarks/results/judge_numerics.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, completion_tokens, machine, write_result
from judgerl.train.checkers import check_reply
from judgerl.train.config import load_config
from judgerl.train.data import load_prompt_rows
from judgerl.train.gate import criteria_of, sample_replies, summarise
from judgerl.train.judging import build_judge, judge_rows
from judgerl.train.policy import load_policy

CONFIG = ROOT / "examples" / "demo" / "config.yaml"
CONFIGURATIONS = (("float32", 2), ("bfloat16", 2), ("bfloat16", 1), ("float32", 1))


def spearman(a: list[float], b: list[float]) -> float:
    import numpy as np

    def ranks(values: list[float]) -> Any:
        order = np.argsort(values, kind="stable")
        out = np.empty(len(values))
        out[order] = np.arange(len(values))
        return out

    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def base_replies(config: Any, rows: list[Any], samples: int, path: Path, threads: int = 2) -> list[dict[str, str]]:
    """The demo's base policy's sampled replies to ``rows`` (``samples`` each, the demo's sampling settings, seed 0),
    saved to ``path`` and read back from there on the next run, so every measurement sees the same replies."""
    if path.exists():
        saved: list[dict[str, str]] = json.loads(path.read_text())
        return saved
    import torch

    torch.set_num_threads(threads)
    model, tokenizer = load_policy(config.policy)
    pairs = sample_replies(
        model,
        tokenizer,
        rows,
        per_prompt=samples,
        max_new_tokens=completion_tokens(config),
        temperature=config.grpo.temperature,
        top_k=config.grpo.top_k or 0,
        seed=0,
    )
    saved = [{"prompt_id": row.prompt_id, "reply": reply} for row, reply in pairs]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=1))
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--replies", type=Path, default=Path("runs/judge-numerics/replies.json"))
    args = parser.parse_args()
    import torch

    config = load_config(CONFIG, ["output_dir=runs/judge-numerics", "judge.cache=false", "policy.dtype=float32"])
    rows, _ = load_prompt_rows(config)
    chosen = rows[: args.prompts]
    by_id = {row.prompt_id: row for row in chosen}
    saved = base_replies(config, chosen, args.samples, args.replies)
    labels = [check_reply(by_id[s["prompt_id"]], s["reply"], "refusal")[0] for s in saved]
    runs: dict[str, Any] = {}
    for dtype, threads in CONFIGURATIONS:
        torch.set_num_threads(threads)
        judged = load_config(
            CONFIG, ["output_dir=runs/judge-numerics", "judge.cache=false", f"judge.options.dtype={dtype}"]
        )
        backend = judged.judge.build_backend()
        started = time.perf_counter()
        try:
            judges = build_judge(judged, backend)
            verdicts = judge_rows(judges, [by_id[s["prompt_id"]] for s in saved], [s["reply"] for s in saved])
            criteria = [criteria_of(judges, by_id[s["prompt_id"]]) for s in saved]
        finally:
            backend.close()
        seconds = time.perf_counter() - started
        scores = [v.score for v in verdicts]
        gate = summarise(
            list(zip(criteria, scores, labels, strict=True)), checker="refusal", min_auc=0.8, started=started, items=[]
        )
        key = f"{dtype}/{threads}t"
        runs[key] = {
            "dtype": dtype,
            "threads": threads,
            "seconds_per_verdict": seconds / len(saved),
            "within_auc": gate.judge_auc,
            "low": gate.low,
            "high": gate.high,
            "groups": [g.model_dump() if hasattr(g, "model_dump") else g for g in gate.groups],
            "scores": scores,
        }
        print(
            f"{key}: within-criterion AUC {gate.judge_auc:.3f} [{gate.low:.3f}, {gate.high:.3f}], "
            f"{seconds / len(saved):.2f} s/verdict",
            flush=True,
        )
    keys = list(runs)
    comparisons = {}
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            both = [
                (x, y)
                for x, y in zip(runs[a]["scores"], runs[b]["scores"], strict=True)
                if x is not None and y is not None
            ]
            comparisons[f"{a} vs {b}"] = {
                "spearman": spearman([x for x, _ in both], [y for _, y in both]),
                "max_abs_change": max(abs(x - y) for x, y in both),
                "mean_abs_change": sum(abs(x - y) for x, y in both) / len(both),
            }
            print(f"{a} vs {b}: {comparisons[f'{a} vs {b}']}", flush=True)
    result = {
        "replies": len(saved),
        "refusal_checker_passed": sum(bool(x) for x in labels),
        "prompt_ids": [s["prompt_id"] for s in saved],
        "runs": runs,
        "comparisons": comparisons,
        "machine": machine(),
    }
    write_result("judge_numerics", result)


if __name__ == "__main__":
    main()
