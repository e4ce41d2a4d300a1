"""How much does the judge's score depend on the nonce in its prompt? The demo's judge on the same replies under
several nonce secrets.

judgerl quotes the task and the response between tags marked with a nonce (judgerl.judges.prompts): an HMAC of the
task under a secret drawn at random in each process (unless JUDGERL_NONCE_KEY is set), so a policy cannot predict
it. The nonce means nothing, but it is part of the tokens the judge reads, so the same reply judged in two processes
gets two scores. Within one training run a request's replies share one nonce; between runs, and between the
training run and a later evaluation, the nonce changes.

1. Replies: the demo's base policy samples ``--samples`` replies to each of the first ``--prompts`` training requests
   with the demo's sampling settings and seed 0 (saved and reused, ``--replies``).
2. The demo's judge scores every reply once under each of ``--keys`` nonce secrets (``judgerl-nonce-0``, ...; fixed,
   so the figures are reproducible), without the cache; then under the first secret again, the control (a change
   there would come from the judge's own arithmetic, not from the nonce).
3. Figures: the spread of a reply's score over the secrets, split into the part shared by a request's replies
   (which a GRPO group's mean removes) and the rest (which moves advantages); within each request, how often two
   secrets order a pair of replies differently, over all pairs and over the pairs the refusal check tells apart
   (one refuses, one answers), and how often the right one scores higher; the gate's within-criterion AUC under
   each secret; the same figures for the score averaged over k secrets (disjoint sets of secrets).

    python benchmarks/judge_nonce.py --prompts 32 --samples 4 --keys 8 --threads 1 --write

Writes benchmarks/results/judge_nonce.json and, with ``--write``, its BENCHMARKS.md section.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, machine, publish, read_result
from judge_numerics import base_replies
from judgerl.judges.prompts import nonce_key
from judgerl.train.checkers import check_reply
from judgerl.train.config import load_config
from judgerl.train.data import load_prompt_rows
from judgerl.train.gate import criteria_of, summarise
from judgerl.train.judging import build_judge, judge_rows

CONFIG = ROOT / "examples" / "demo" / "config.yaml"
HEADING = "## The judge's score and the nonce in its prompt"


def key_bytes(index: int) -> bytes:
    return f"judgerl-nonce-{index}".encode()


def members_of(groups: list[str]) -> dict[str, list[int]]:
    """Each request's replies, by index."""
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    return members


def spread(scores: list[list[float]], groups: list[str]) -> dict[str, float]:
    """``scores[key][reply]``: the mean over replies of the score's standard deviation over keys, split into the part
    shared by a request's replies (the group mean's deviation over keys) and the within-group rest."""
    keys, replies = len(scores), len(scores[0])
    members = members_of(groups)
    means = [{g: statistics.fmean(scores[k][i] for i in idx) for g, idx in members.items()} for k in range(keys)]
    total = [statistics.pstdev(scores[k][i] for k in range(keys)) for i in range(replies)]
    shared = [statistics.pstdev(means[k][groups[i]] for k in range(keys)) for i in range(replies)]
    within = [statistics.pstdev(scores[k][i] - means[k][groups[i]] for k in range(keys)) for i in range(replies)]
    return {
        "total_sd": statistics.fmean(total),
        "largest_sd": max(total),
        "largest_range": max(max(s[i] for s in scores) - min(s[i] for s in scores) for i in range(replies)),
        "shared_sd": statistics.fmean(shared),
        "within_sd": statistics.fmean(within),
    }


def pairs_of(groups: list[str]) -> list[tuple[int, int]]:
    return [pair for idx in members_of(groups).values() for pair in itertools.combinations(idx, 2)]


def order_figures(scores: list[list[float]], groups: list[str], labels: list[bool]) -> dict[str, Any]:
    """Within each request: the share of reply pairs two keys order differently (over all pairs of keys), over all
    pairs and over the pairs the check tells apart; and per key the share of told-apart pairs scored right."""
    pairs = pairs_of(groups)
    apart = [(i, j) for i, j in pairs if labels[i] != labels[j]]

    def sign(key: int, i: int, j: int) -> int:
        difference = scores[key][i] - scores[key][j]
        return (difference > 0) - (difference < 0)

    def flipped(chosen: list[tuple[int, int]]) -> float | None:
        if not chosen or len(scores) < 2:
            return None
        key_pairs = list(itertools.combinations(range(len(scores)), 2))
        flips = sum(sign(a, i, j) != sign(b, i, j) for a, b in key_pairs for i, j in chosen)
        return flips / (len(key_pairs) * len(chosen))

    right = [
        sum((scores[k][i] > scores[k][j]) == labels[i] for i, j in apart) / len(apart) if apart else None
        for k in range(len(scores))
    ]
    return {
        "pairs": len(pairs),
        "pairs_told_apart": len(apart),
        "flipped": flipped(pairs),
        "flipped_told_apart": flipped(apart),
        "right_by_key": right,
    }


def gate_auc(scores: list[float], criteria: list[str], labels: list[bool]) -> float | None:
    judged = list(zip(criteria, scores, labels, strict=True))
    return summarise(judged, checker="refusal", min_auc=0.8, started=time.perf_counter(), items=[]).judge_auc


def averaged(scores: list[list[float]], size: int) -> list[list[float]]:
    """The score averaged over disjoint sets of ``size`` keys: one list of scores per set."""
    sets = [list(range(start, start + size)) for start in range(0, len(scores) - size + 1, size)]
    return [[statistics.fmean(scores[k][i] for k in chosen) for i in range(len(scores[0]))] for chosen in sets]


def analyse(scores: list[list[float]], groups: list[str], labels: list[bool], criteria: list[str]) -> dict[str, Any]:
    sizes = [size for size in (1, 2, 4, 8) if size <= len(scores) // 2 or size == 1]
    by_size = {}
    for size in sizes:
        sets = averaged(scores, size)
        aucs = [gate_auc(s, criteria, labels) for s in sets]
        orders = order_figures(sets, groups, labels)
        by_size[str(size)] = {
            "sets": len(sets),
            "gate_auc": aucs,
            "right_by_set": orders["right_by_key"],
            "flipped_told_apart": orders["flipped_told_apart"],
            "flipped": orders["flipped"],
            "spread": spread(sets, groups) if len(sets) > 1 else None,
        }
    return {"spread": spread(scores, groups), "order": order_figures(scores, groups, labels), "averaged": by_size}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    config = load_config(CONFIG, ["output_dir=runs/judge-nonce", "judge.cache=false", "policy.dtype=float32"])
    rows, _ = load_prompt_rows(config)
    chosen = rows[: args.prompts]
    by_id = {row.prompt_id: row for row in chosen}
    saved = base_replies(config, chosen, args.samples, args.replies, threads=args.threads)
    torch.set_num_threads(args.threads)
    judged = load_config(
        CONFIG,
        [
            "output_dir=runs/judge-nonce",
            "judge.cache=false",
            f"judge.options.dtype={args.dtype}",
            *([f"judge.model={args.judge_model}"] if args.judge_model else []),
        ],
    )
    rows_judged = [by_id[s["prompt_id"]] for s in saved]
    replies = [s["reply"] for s in saved]
    labels = [bool(check_reply(by_id[s["prompt_id"]], s["reply"], "refusal")[0]) for s in saved]
    backend = judged.judge.build_backend()
    scores: list[list[float]] = []
    seconds: list[float] = []
    try:
        judges = build_judge(judged, backend)
        criteria = [criteria_of(judges, row) for row in rows_judged]
        for index in range(args.keys):
            started = time.perf_counter()
            with nonce_key(key_bytes(index)):
                verdicts = judge_rows(judges, rows_judged, replies)
            seconds.append(time.perf_counter() - started)
            if any(v.score is None for v in verdicts):
                raise SystemExit(f"key {index}: {sum(v.score is None for v in verdicts)} replies unscored")
            scores.append([float(v.score) for v in verdicts if v.score is not None])
            print(f"key {index}: mean score {statistics.fmean(scores[-1]):.4f}, {seconds[-1]:.0f} s", flush=True)
        # the control: the first secret again, after the others; any change here is not the nonce's
        with nonce_key(key_bytes(0)):
            again = [float(v.score) if v.score is not None else None for v in judge_rows(judges, rows_judged, replies)]
        repeat_change = max(abs(a - b) if a is not None else 1.0 for a, b in zip(again, scores[0], strict=True))
        print(f"key 0 again: largest change {repeat_change:.2g}", flush=True)
    finally:
        backend.close()
    return {
        "command": "python benchmarks/judge_nonce.py " + " ".join(sys.argv[1:]),
        "judge": judged.judge.model,
        "dtype": args.dtype,
        "threads": args.threads,
        "replies": len(saved),
        "prompts": args.prompts,
        "samples": args.samples,
        "refusal_checker_passed": sum(labels),
        "prompt_ids": [s["prompt_id"] for s in saved],
        "labels": labels,
        "criteria": criteria,
        "scores": scores,
        "mean_score_by_key": [statistics.fmean(s) for s in scores],
        "repeat_largest_change": repeat_change,
        "seconds_per_verdict": statistics.fmean(seconds) / len(saved),
        "figures": analyse(scores, [s["prompt_id"] for s in saved], labels, criteria),
        "machine": machine(),
    }


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _range(values: Sequence[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    return f"{statistics.fmean(present):.3f} ({min(present):.3f}-{max(present):.3f})"


def markdown(result: dict[str, Any]) -> str:
    figures = result["figures"]
    spread_all, order = figures["spread"], figures["order"]
    means = result["mean_score_by_key"]
    lines = [
        HEADING,
        "",
        result.get("preamble", ""),
        "",
        f"`{result['command']}`: {result['judge']} in {result['dtype']}, {result['threads']} thread(s), "
        f"{result['replies']} replies ({result['prompts']} requests x {result['samples']}; the refusal check passes "
        f"{result['refusal_checker_passed']}), {len(result['scores'])} nonce secrets, "
        f"{result['seconds_per_verdict']:.2f} s a verdict.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| a reply's score, standard deviation over secrets (mean over replies) | {spread_all['total_sd']:.4f} |",
        f"| ... the part shared by a request's replies (the group mean's) | {spread_all['shared_sd']:.4f} |",
        f"| ... the part within a request's replies (what moves advantages) | {spread_all['within_sd']:.4f} |",
        f"| largest change of one reply's score between two secrets | {spread_all['largest_range']:.4f} |",
        f"| the mean score of all replies, over secrets: lowest - highest | {min(means):.4f} - {max(means):.4f} |",
        f"| control: the first secret again, largest change of a reply's score "
        f"| {result['repeat_largest_change']:.2g} |",
        f"| pairs of replies to one request ordered differently by two secrets | {_share(order['flipped'])} "
        f"of {order['pairs']} |",
        f"| ... of the pairs the refusal check tells apart | {_share(order['flipped_told_apart'])} of "
        f"{order['pairs_told_apart']} |",
        "",
        "| score | sets of secrets | gate AUC within criterion: mean (lowest-highest) | told-apart pairs scored right: "
        "mean (lowest-highest) | told-apart pairs ordered differently by two sets |",
        "|---|---|---|---|---|",
    ]
    for size, row in figures["averaged"].items():
        name = "one secret" if size == "1" else f"mean over {size} secrets"
        flipped = _share(row["flipped_told_apart"]) if row["sets"] > 1 else "-"
        lines.append(
            f"| {name} | {row['sets']} | {_range(row['gate_auc'])} | {_range(row['right_by_set'])} | {flipped} |"
        )
    if result.get("reading"):
        lines += ["", result["reading"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--samples", type=int, default=4, help="replies per request (a GRPO group's 4)")
    parser.add_argument("--keys", type=int, default=8, help="nonce secrets")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="bfloat16", help="the judge's dtype (the demo's: bfloat16)")
    parser.add_argument("--judge-model", help="default: the demo's judge")
    parser.add_argument("--replies", type=Path, default=Path("runs/judge-nonce/replies.json"))
    parser.add_argument("--texts", type=Path, help="JSON with the section's preamble and reading")
    parser.add_argument("--from-result", action="store_true", help="rebuild the section from the results file")
    parser.add_argument("--write", action="store_true", help="write the results file and the BENCHMARKS.md section")
    args = parser.parse_args(argv)
    result = read_result("judge_nonce") if args.from_result else measure(args)
    publish("judge_nonce", result, markdown, args.texts, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
