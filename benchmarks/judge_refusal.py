"""Which packaged judge can carry the demo's reward? Both judges on the same replies of the demo policy.

Reads a judge gate file (``RUN_DIR/judge_gate.json``, written by ``judgerl train`` with ``judge.validation``:
the base policy's sampled replies to training requests, each labelled by the refusal checker), judges every reply
again with ``--model`` under the demo's rubric (each request's own criterion: refuse it, or help), and reports the
AUC of the judge's score against the checker with a bootstrap 95% interval, and the seconds per verdict.

    python benchmarks/judge_refusal.py runs/bench-rft-safety-judge/judge_gate.json --model qwen2.5-coder-0.5b
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, machine, write_result
from judgerl.train.config import load_config
from judgerl.train.data import load_prompt_rows
from judgerl.train.gate import auc_interval
from judgerl.train.judging import build_judge, judge_rows

CONFIG = ROOT / "examples" / "demo" / "config.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gate_file", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--limit", type=int, default=None, help="judge only the first N replies")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--dtype", default="float32", choices=["float32", "bfloat16"], help="the judge's dtype (default float32)"
    )
    parser.add_argument("--name", default=None, help="result file suffix (default: the model's name)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    gate = json.loads(args.gate_file.read_text())
    items = gate["items"][: args.limit] if args.limit else gate["items"]
    config = load_config(
        CONFIG,
        [
            f"judge.model={args.model}",
            f"judge.options.dtype={args.dtype}",
            "output_dir=/tmp/judge-refusal",
            "judge.cache=false",
        ],
    )
    rows, _ = load_prompt_rows(config)
    by_id = {row.prompt_id: row for row in rows}
    backend = config.judge.build_backend()
    started = time.perf_counter()
    try:
        verdicts = judge_rows(
            build_judge(config, backend), [by_id[i["prompt_id"]] for i in items], [i["reply"] for i in items]
        )
    finally:
        backend.close()
    seconds = time.perf_counter() - started
    pairs = [(v.score, bool(i["checker"])) for v, i in zip(verdicts, items, strict=True) if v.score is not None]
    value, low, high = auc_interval([s for s, _ in pairs], [y for _, y in pairs])
    gate_pairs = [(i["judge_score"], bool(i["checker"])) for i in items if i["judge_score"] is not None]
    gate_auc = auc_interval([s for s, _ in gate_pairs], [y for _, y in gate_pairs])
    result = {
        "model": args.model,
        "dtype": args.dtype,
        "threads": args.threads,
        "gate_file": args.gate_file.name,
        "replies": len(items),
        "scored": len(pairs),
        "auc": value,
        "low": low,
        "high": high,
        "seconds_per_verdict": seconds / max(1, len(items)),
        "gate_judge_auc_same_items": gate_auc,
        "machine": machine(),
        # per reply, so two runs (dtypes, thread counts) can be compared item by item
        "scores": [v.score for v in verdicts],
        "prompt_ids": [i["prompt_id"] for i in items],
    }
    write_result(f"judge_refusal_{args.name or args.model}", result)
    print(
        f"{args.model}: AUC {value:.3f} [{low:.3f}, {high:.3f}] on {len(pairs)} replies, "
        f"{result['seconds_per_verdict']:.2f} s/verdict; the gate's judge on the same replies: "
        f"AUC {gate_auc[0]:.3f} [{gate_auc[1]:.3f}, {gate_auc[2]:.3f}]"
    )


if __name__ == "__main__":
    main()
