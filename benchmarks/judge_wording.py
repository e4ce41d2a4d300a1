"""How the demo's criteria are worded: the same judge on the same replies under several wordings of one criterion.

Reads judge gate files (``RUN_DIR/eval/judge_gate.json``: the base policy's sampled replies to training requests),
keeps the replies to harmful requests (``--kind benign``: to benign ones), labels each with the refusal check as it
is now (``judgerl.checks.refusal``, never in a reward: a harmful request's reply passes when it refuses, a benign
one's when it answers), and judges every reply under each candidate wording of the row's criterion (a YAML list of
``name``, ``text`` and optional ``negate``: the score is then 1 - P(PASS)). Reported per wording: the AUC against
the check over all replies (the gate's "within criterion" figure) and within each request (what a GRPO group
compares), each with a bootstrap 95% interval, and the paired difference from the first wording (the same
resamples). ``--only`` judges the first wording and the named ones: a confirmation on other gate files.

    python benchmarks/judge_wording.py --gates 'runs/*-s20?/eval/judge_gate.json' \\
        --candidates benchmarks/wording/refuse_candidates.yaml --name refuse_dev
    python benchmarks/judge_wording.py --section refuse_dev refuse_confirm --texts texts.json --write
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import dataclasses
import glob
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, machine, publish, read_result, write_result
from reworded import load_candidates

CONFIG = ROOT / "examples" / "demo" / "config.yaml"
HEADING = "## The refuse criterion's wording: the same judge, the same replies"
# a section per criterion, by the kind of request its replies answer (the dev study's ``kind``)
HEADINGS = {"harmful": HEADING, "benign": "## The help criterion's wording: the same judge, the same replies"}
SECTION_RESULTS = {"harmful": "judge_wording", "benign": "judge_wording_help"}
Statistic = Callable[[np.ndarray], "float | None"]


#: the requests a study reads, and what their replies should do by the refusal check
KINDS = {"harmful": "refuse", "benign": "comply"}


def load_replies(patterns: Sequence[str], kind: str = "harmful") -> list[dict[str, Any]]:
    """The replies to ``kind`` requests of every gate file matching ``patterns``, ``passes`` by the check now."""
    import json

    from judgerl.checks.refusal import check

    files = sorted({f for pattern in patterns for f in glob.glob(pattern)})
    if not files:
        raise SystemExit(f"no gate file matches {' '.join(patterns)}")
    replies = []
    for file in files:
        for item in json.loads(Path(file).read_text(encoding="utf-8"))["items"]:
            if item["prompt_id"].startswith(kind):
                replies.append({**item, "gate": file, "passes": bool(check(KINDS[kind], item["reply"]))})
    return replies


def oriented(values: list[float], candidate: dict[str, Any]) -> list[float]:
    """The reward a wording gives: P(PASS), or 1 - P(PASS) for a ``negate`` wording (passing it is the failure)."""
    return [1.0 - v for v in values] if candidate.get("negate") else values


def within_request_auc(scores: Sequence[float], labels: Sequence[bool], groups: Sequence[str]) -> Statistic:
    """Reply-weighted mean of the AUCs of requests with both outcomes, on a resample of replies (the gate's)."""
    from judgerl.train.gate import within_group_statistic

    return within_group_statistic(groups, scores, labels)


def pooled_auc(scores: Sequence[float], labels: Sequence[bool]) -> Statistic:
    from judgerl.stats import roc_auc, select

    return lambda indices: roc_auc(select(scores, indices), select(labels, indices))


def figures(scores: dict[str, list[float]], replies: list[dict[str, Any]], resamples: int) -> dict[str, Any]:
    """Per wording: AUC over replies and within requests, intervals, and the paired difference from the first."""
    from judgerl.stats import estimate, paired_statistic_difference

    labels = [r["passes"] for r in replies]
    groups = [f"{r['gate']}:{r['prompt_id']}" for r in replies]
    first = next(iter(scores))
    out: dict[str, Any] = {}
    for name, values in scores.items():
        pooled, within = pooled_auc(values, labels), within_request_auc(values, labels, groups)
        passing = [s for s, y in zip(values, labels, strict=True) if y]
        failing = [s for s, y in zip(values, labels, strict=True) if not y]
        out[name] = {
            "auc": estimate(pooled, len(values), resamples).model_dump(),
            "within_request_auc": estimate(within, len(values), resamples).model_dump(),
            "mean_passing": float(np.mean(passing)) if passing else None,
            "mean_failing": float(np.mean(failing)) if failing else None,
        }
        if name != first:
            base = scores[first]
            out[name]["auc_minus_first"] = paired_statistic_difference(
                pooled_auc(base, labels), pooled, len(values), resamples
            ).model_dump()
            out[name]["within_minus_first"] = paired_statistic_difference(
                within_request_auc(base, labels, groups), within, len(values), resamples
            ).model_dump()
    return out


def judge_wordings(
    replies: list[dict[str, Any]], candidates: list[dict[str, Any]], model: str, dtype: str, secrets: int
) -> tuple[dict[str, list[float]], float]:
    """Every reply's score under every wording (None-free: an unscored verdict stops the run), and s per verdict."""
    from judgerl.train.config import load_config
    from judgerl.train.data import load_prompt_rows
    from judgerl.train.judging import build_judge, judge_rows

    config = load_config(
        CONFIG,
        [
            f"judge.model={model}",
            f"judge.options.dtype={dtype}",
            f"judge.nonce_secrets={secrets}",
            "output_dir=/tmp/judge-wording",
            "judge.cache=false",
        ],
    )
    rows, _ = load_prompt_rows(config)
    by_id = {row.prompt_id: row for row in rows}
    backend = config.judge.build_backend()
    judge = build_judge(config, backend)
    scores: dict[str, list[float]] = {}
    started = time.perf_counter()
    try:
        for candidate in candidates:
            criteria = [{"name": "appropriate", "text": candidate["text"]}]
            worded = [
                dataclasses.replace(
                    by_id[r["prompt_id"]], metadata={**by_id[r["prompt_id"]].metadata, "criteria": criteria}
                )
                for r in replies
            ]
            verdicts = judge_rows(judge, worded, [r["reply"] for r in replies])
            unscored = [v for v in verdicts if v.score is None]
            if unscored:
                raise SystemExit(f"{candidate['name']}: {len(unscored)} replies unscored, e.g. {unscored[0]}")
            values = [float(v.score) for v in verdicts if v.score is not None]
            scores[candidate["name"]] = oriented(values, candidate)
            print(f"  {candidate['name']}: judged {len(values)} replies", flush=True)
    finally:
        backend.close()
    seconds = (time.perf_counter() - started) / max(1, len(replies) * len(candidates))
    return scores, seconds


def table(result: dict[str, Any]) -> str:
    def interval(e: dict[str, Any], signed: bool = False) -> str:
        if e.get("value") is None:
            return "-"
        fmt = "{:+.3f}" if signed else "{:.3f}"
        bounds = f" [{fmt.format(e['low'])}, {fmt.format(e['high'])}]" if e.get("low") is not None else ""
        return fmt.format(e["value"]) + bounds

    # a harmful request's reply passes by refusing, a benign one's by answering
    outcomes = "refusals / answers" if result.get("kind", "harmful") == "harmful" else "answers / refusals"
    lines = [
        "| wording | text | AUC over replies | minus the first | AUC within requests | minus the first "
        f"| mean score: {outcomes} |",
        "|---|---|---|---|---|---|---|",
    ]
    for candidate in result["candidates"]:
        name = candidate["name"]
        f = result["figures"][name]
        text = ("1 - P(PASS) of: " if candidate.get("negate") else "") + candidate["text"]
        means = f.get("mean_passing", f.get("mean_refusal")), f.get("mean_failing", f.get("mean_answer"))
        lines.append(
            f"| `{name}` | {text} | {interval(f['auc'])} | {interval(f.get('auc_minus_first', {}), True)} "
            f"| {interval(f['within_request_auc'])} | {interval(f.get('within_minus_first', {}), True)} "
            f"| {means[0]:.3f} / {means[1]:.3f} |"
        )
    return "\n".join(lines)


def part(title: str, result: dict[str, Any]) -> list[str]:
    """One study's paragraph: what was judged, with its command, and the table."""
    gates = ", ".join(Path(g).parts[-3].rsplit("-", 1)[-1] for g in result["gates"])
    # the gates were read where the runs were made (a worktree's runs/): the command as run from that folder
    command = re.sub(r"(?<!\S)\S*/(runs/)", r"\1", result["command"])
    kind = result.get("kind", "harmful")
    passing = result.get("passing", result.get("refusals"))  # the first studies wrote "refusals"
    outcome = "refusals" if kind == "harmful" else "answers"
    return [
        f"{title}: `{command}` ({result['replies']} replies to {kind} requests from the gates of seeds "
        f"{gates}, {passing} {outcome} by the check; {result['model']} in {result['dtype']}, "
        f"{result['nonce_secrets']} nonce secret(s), the secret fixed: {'yes' if result['nonce_key_fixed'] else 'no'}; "
        f"{result['seconds_per_verdict']:.2f} s a verdict)",
        "",
        table(result),
        "",
    ]


def markdown(result: dict[str, Any]) -> str:
    """The BENCHMARKS.md section: the study that chose, the one that confirmed, and the reading."""
    heading = HEADINGS[result["dev"].get("kind", "harmful")]
    lines = [heading, ""] + ([result["preamble"], ""] if result.get("preamble") else [])
    # "chosen" only where the dev study made a wording eligible and a confirmation followed
    lines += part("Chosen on" if result.get("confirm") else "Measured on", result["dev"])
    if result.get("confirm"):
        lines += part("Confirmed on", result["confirm"])
    lines += [result.get("reading", "")]
    return "\n".join(lines).rstrip("\n") + "\n"


def section(argv: list[str]) -> None:
    """``--section DEV [CONFIRM] [--texts FILE] [--write]``: the section from results already written (the refuse
    criterion's or the help criterion's, by the dev study's kind; CONFIRM absent where no wording was eligible)."""
    parser = argparse.ArgumentParser(prog="judge_wording.py --section")
    parser.add_argument("names", nargs="+", help="the results of the study that chose, then of the one that confirmed")
    parser.add_argument("--texts", type=Path, help="JSON with the section's preamble and reading")
    parser.add_argument("--write", action="store_true", help="write results/judge_wording.json and the section")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"dev": read_result(f"judge_wording_{args.names[0]}")}
    if len(args.names) > 1:
        result["confirm"] = read_result(f"judge_wording_{args.names[1]}")
    for study in ("dev", "confirm"):  # the per-reply scores stay in the studies' own files
        if study in result:
            result[study] = {k: v for k, v in result[study].items() if k not in ("scores", "prompt_ids")}
    publish(SECTION_RESULTS[result["dev"].get("kind", "harmful")], result, markdown, args.texts, args.write)


def main() -> None:
    if sys.argv[1:2] == ["--section"]:
        section(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gates", nargs="+", required=True, help="gate files (glob patterns)")
    parser.add_argument("--candidates", type=Path, required=True)
    parser.add_argument("--only", nargs="*", help="judge only these wordings (the file's first is always judged)")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    parser.add_argument("--nonce-secrets", type=int, default=1, help="judge.nonce_secrets (default 1)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=None, help="only the first N replies (a smoke run)")
    parser.add_argument("--kind", choices=sorted(KINDS), default="harmful", help="which requests' replies (harmful)")
    parser.add_argument("--name", required=True, help="result file: benchmarks/results/judge_wording_<name>.json")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    candidates = load_candidates(args.candidates, args.only)
    replies = load_replies(args.gates, args.kind)[: args.limit]
    passing = sum(r["passes"] for r in replies)
    print(f"{len(replies)} {args.kind} requests' replies ({passing} pass the check), {len(candidates)} wordings")
    scores, seconds = judge_wordings(replies, candidates, args.model, args.dtype, args.nonce_secrets)
    result = {
        "command": "python benchmarks/judge_wording.py " + " ".join(sys.argv[1:]),
        "model": args.model,
        "dtype": args.dtype,
        "nonce_secrets": args.nonce_secrets,
        "nonce_key_fixed": bool(os.environ.get("JUDGERL_NONCE_KEY")),
        "gates": sorted({r["gate"] for r in replies}),
        "replies": len(replies),
        "kind": args.kind,
        "passing": passing,
        "candidates": candidates,
        "figures": figures(scores, replies, args.resamples),
        "seconds_per_verdict": seconds,
        "machine": machine(),
        "scores": scores,
        "prompt_ids": [r["prompt_id"] for r in replies],
    }
    write_result(f"judge_wording_{args.name}", result)
    print(table(result))


if __name__ == "__main__":
    main()
