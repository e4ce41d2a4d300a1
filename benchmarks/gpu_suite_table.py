"""The GPU suite's results as a markdown table (benchmarks/gpu_suite.py prints it after a run): the judge's verdicts/s
and prefill efficiency per model, batch and path, then the judge's share of a GRPO step. Needs no torch, so a results
file can be read anywhere."""

from __future__ import annotations

from typing import Any

# (a) per prefill mode of the transformers backend (its ``prefill`` option)
LOGPROB_VARIANTS = {"grouped": "a_logprob_shared_prefix", "batched": "a_logprob_batched_prefill"}


def table(payload: dict[str, Any]) -> str:
    peak = payload["peak"]["tflops"]
    judge = payload.get("judge", [])
    # the (a) columns of the prefill modes this run measured (grouped, batched or both)
    a_keys = [k for k in LOGPROB_VARIANTS.values() if judge and k in judge[0]["variants"]]
    a_names = ["(a) grouped" if k == LOGPROB_VARIANTS["grouped"] else "(a) batched" for k in a_keys]
    head = ["model", "samples", *a_names, "(b) no reuse", "(c) one JSON", *(f"{n}/(c)" for n in a_names)]
    head += [*(f"prefill {n}" for n in a_names), "prefill (b)"]
    lines = [
        f"matmul peak ({payload['peak']['dtype']}, {payload['peak']['size']}^3): {peak:.1f} TFLOP/s",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]

    def prefill(row: dict[str, Any]) -> str:
        return f"{row['prefill_tflops']:.2f} TF/s ({row['prefill_tflops'] / peak:.1%})"

    for part in judge:
        v = part["variants"]
        for batch in v["b_logprob_no_reuse"]:
            a = [v[k][batch] for k in a_keys]
            b, c = v["b_logprob_no_reuse"][batch], v["c_generate_one_json"][batch]
            c_note = "" if c["samples_measured"] == c["samples"] else f" ({c['samples_measured']} run)"
            cells = [part["architecture"], batch, *(f"{r['verdicts_per_s']:.1f}" for r in a)]
            cells += [f"{b['verdicts_per_s']:.1f}", f"{c['verdicts_per_s']:.2f}{c_note}"]
            cells += [*(f"{r['ratio_to_c']:.1f}x" for r in a), *(prefill(r) for r in a), prefill(b)]
            lines.append("| " + " | ".join(cells) + " |")
        raw = part["raw_prefill"]
        cells = [part["architecture"], f"raw prefill {raw['rows']}x{raw['tokens_per_row']}"]
        cells += [""] * (2 + 2 * len(a_keys)) + [f"{raw['tflops']:.2f} TF/s ({raw['tflops'] / peak:.1%})"]
        cells += [""] * len(a_keys)
        lines.append("| " + " | ".join(cells) + " |")
    grpo = payload.get("grpo")
    if grpo:
        lines += [
            "",
            "| GRPO step | step s | judge busy s | judge waited s | judge busy / step | judge wait / step |",
            "|---|---|---|---|---|---|",
        ]
        for key in ("no_overlap", "overlap"):
            g = grpo[key]
            lines.append(
                f"| {key.replace('_', ' ')} | {g['step_s']:.2f} | {g['judge_busy_s']:.2f} | {g['judge_wait_s']:.2f} | "
                f"{g['judge_busy_share']:.1%} | {g['judge_wait_share']:.1%} |"
            )
    return "\n".join(lines)
