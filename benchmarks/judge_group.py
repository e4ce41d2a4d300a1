"""The judge's cost for one GRPO batch: per-sample calls against one coalesced pass, side by side.

Takes the demo's judge gate file (the base policy's sampled replies, ``--per-prompt`` per training request), forms
batches as GRPO does (``--prompts`` requests x ``--per-prompt`` completions), and judges every batch with the
in-process judge twice, alternating: coalescing off (``coalesce_ms=0``: one backend call per sample, the path
before this change) and on (one planned pass per batch, the instructions and task shared by a group's completions
computed once). Reports seconds per batch and per verdict, their ratio, and the largest score difference.

    python benchmarks/judge_group.py runs/bench-rft-safety-judge/judge_gate.json --batches 3

``--compare prefill`` keeps coalescing on and alternates the transformers backend's two prefill modes instead:
``grouped`` (each prefix group's prefix, then its suffixes) and ``batched`` (the groups' prefixes in one padded
pass, then all their suffixes together); written to judge_group_prefill.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import asyncio
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, machine, write_result
from judgerl.samples import Message, Sample
from judgerl.train.config import load_config
from judgerl.train.data import load_prompt_rows
from judgerl.train.judging import build_judge

CONFIG = ROOT / "examples" / "demo" / "config.yaml"


async def judge_batch(judges: Any, samples: list[Sample]) -> list[float | None]:
    groups: dict[int, tuple[Any, list[int]]] = {}
    for k, sample in enumerate(samples):
        judge = judges.for_sample(sample)
        groups.setdefault(id(judge), (judge, []))[1].append(k)
    results = await asyncio.gather(*(j.ajudge([samples[k] for k in ks]) for j, ks in groups.values()))
    scores: list[float | None] = [None] * len(samples)
    for (_, ks), verdicts in zip(groups.values(), results, strict=True):
        for k, verdict in zip(ks, verdicts, strict=True):
            scores[k] = verdict.score
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gate_file", type=Path)
    parser.add_argument("--model", default=None, help="default: qwen2.5-coder-0.5b")
    parser.add_argument("--prompts", type=int, default=2, help="requests per batch")
    parser.add_argument("--per-prompt", type=int, default=2, help="completions per request (at most the gate's)")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dtype", default="float32", help="the judge's dtype (float32: as first run)")
    parser.add_argument("--compare", choices=("coalescing", "prefill"), default="coalescing")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    # the judge as this benchmark was run (the 0.5B in float32, as the demo config then had it) unless --model
    overrides = ["output_dir=/tmp/judge-group", "judge.cache=false", "judge.concurrency=16"]
    overrides += [f"judge.options.dtype={args.dtype}", f"judge.model={args.model or 'qwen2.5-coder-0.5b'}"]
    config = load_config(CONFIG, overrides)
    rows = {row.prompt_id: row for row in load_prompt_rows(config)[0]}
    replies: dict[str, list[str]] = defaultdict(list)
    for item in json.loads(args.gate_file.read_text())["items"]:
        replies[item["prompt_id"]].append(item["reply"])
    # a gate file of a run trained on its own copy of the rows may name repeats (benign-00-again1): left out
    usable = [p for p in replies if len(replies[p]) >= args.per_prompt and p in rows]
    prompt_ids = usable[: args.prompts * args.batches]
    batches = []
    for b in range(args.batches):
        chosen = prompt_ids[b * args.prompts : (b + 1) * args.prompts]
        batches.append(
            [
                Sample(
                    id=f"{p}-{k}",
                    prompt=[Message(role=m["role"], content=m["content"]) for m in rows[p].prompt],
                    response=replies[p][k],
                    metadata={**rows[p].metadata, "prompt_id": p},
                )
                for p in chosen
                for k in range(args.per_prompt)
            ]
        )
    backend = config.judge.build_backend()
    judges = build_judge(config, backend)
    # (name, coalescing window, prefill mode); the first variant is the path before, the second the one measured
    variants = (
        [("per_sample", 0.0, "grouped"), ("coalesced", 0.01, "grouped")]
        if args.compare == "coalescing"
        else [("grouped", 0.01, "grouped"), ("batched", 0.01, "batched")]
    )
    timings: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    scores: dict[str, list[float | None]] = {name: [] for name, _, _ in variants}
    try:
        for _name, coalesce, prefill in variants:  # warm-up: first-call allocations of each path
            backend.coalesce_s, backend.prefill = coalesce, prefill
            asyncio.run(judge_batch(judges, batches[0]))
        for batch in batches:
            for name, coalesce, prefill in variants:
                backend.coalesce_s, backend.prefill = coalesce, prefill
                started = time.perf_counter()
                scores[name] += asyncio.run(judge_batch(judges, batch))
                timings[name].append(time.perf_counter() - started)
    finally:
        backend.close()
    before, after = (name for name, _, _ in variants)
    verdicts = sum(len(b) for b in batches)
    per = {v: sum(t) / verdicts for v, t in timings.items()}
    difference = max(
        abs(a - b) for a, b in zip(scores[before], scores[after], strict=True) if a is not None and b is not None
    )
    result = {
        "model": config.judge.model,
        "dtype": args.dtype,
        "threads": args.threads,
        "compare": args.compare,
        "batch": f"{args.prompts} requests x {args.per_prompt} completions",
        "batches": args.batches,
        "seconds_per_batch": {v: sum(t) / len(t) for v, t in timings.items()},
        "seconds_per_verdict": per,
        "speedup": per[before] / per[after],
        "max_score_difference": difference,
        "machine": machine(),
    }
    write_result("judge_group" if args.compare == "coalescing" else "judge_group_prefill", result)
    print(
        f"{result['batch']}, {args.batches} batches: {before} {per[before]:.2f} s/verdict, {after} "
        f"{per[after]:.2f} s/verdict ({result['speedup']:.2f}x); largest score difference {difference:.2e}"
    )


if __name__ == "__main__":
    main()
