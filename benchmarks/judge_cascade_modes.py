"""The by-mode cascade ladder: the 1.5B's log-prob verdict first, its generated verdict with a reason only where
the log-prob one is unsure.

Same 80 labelled GSM8K solutions and criterion as benchmarks/judge_cascade.py, whose saved run supplies the
1.5B's log-prob verdicts (run that first). A generated verdict costs many log-prob ones, so the 1.5B generates
(greedy, a one-sentence reason before each verdict, JSON) only on the items whose log-prob P(PASS) lies within
--max-margin of 0.5: the cascade at every margin below that is replayed exactly (items further out never
escalate), while "generated alone" is measured on those items only, not on all 80. The least sure items are
generated first and the verdicts saved after every few: a run stopped early (or cut by --limit) replays the margins
up to the distance of the first item it left out; --resume continues it.

Usage: nice -n 5 python benchmarks/judge_cascade_modes.py [--max-margin 0.3] [--dtype auto] [--threads 2] [--resume]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, machine, write_result
from judge_cascade import MODELS, RUBRIC, labelled_set
from judgerl.judges.spec import JudgeSpec
from judgerl.stats import estimate, paired_statistic_difference
from judgerl.validate.cascade_curve import CURVE_MARGINS, _Agreement, _agreements, replay
from judgerl.verdicts import SampleVerdict

MODEL = MODELS[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--max-margin", type=float, default=0.3)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--chunk", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="Generate at most this many more items.")
    args = parser.parse_args()
    labelled = labelled_set(args.pairs)
    n = len(labelled)
    by_model = json.loads((RESULTS / "judge_cascade.json").read_text(encoding="utf-8"))
    stage = next(s for s in by_model["stages"] if s["model"] == MODEL)
    logprob = [SampleVerdict.model_validate(v) for v in stage["verdicts"]]
    assert [v.id for v in logprob] == [s.id for s in labelled], "the saved run judged other items"
    distance = [abs((v.criteria[0].p_pass or 0.0) - v.criteria[0].threshold) for v in logprob]
    candidates = [i for i in range(n) if distance[i] < args.max_margin]
    out = RESULTS / "judge_cascade_modes.json"
    generated: dict[int, Any] = {}
    seconds = 0.0
    saved_dtype = None
    if args.resume and out.exists():
        saved = json.loads(out.read_text(encoding="utf-8"))
        generated = {int(k): v for k, v in saved["generated"].items()}
        seconds = saved["generate_seconds"]
        saved_dtype = saved.get("dtype") or saved.get("dtype_generate")
    # the least sure first: a run stopped early still replays every margin up to its first item left out
    todo = sorted((i for i in candidates if i not in generated), key=lambda i: distance[i])[: args.limit]
    print(f"{len(candidates)} of {n} items within {args.max_margin} of the threshold; {len(todo)} to generate")
    dtype_used = saved_dtype
    if todo:
        options = {"dtype": args.dtype, "threads": args.threads}
        spec = JudgeSpec(model=MODEL, options=options, mode="generate", max_new_tokens=args.max_new_tokens)
        backend = spec.build_backend()
        dtype_used = str(backend.model.dtype).removeprefix("torch.")  # type: ignore[attr-defined]
        judge = spec.single_rubric_judge(RUBRIC, backend)
        try:
            for start in range(0, len(todo), args.chunk):
                chunk = todo[start : start + args.chunk]
                began = time.perf_counter()
                verdicts = judge.judge([labelled[i] for i in chunk])
                seconds += time.perf_counter() - began
                generated.update({i: v.model_dump() for i, v in zip(chunk, verdicts, strict=True)})
                write_result(
                    "judge_cascade_modes",
                    {
                        "items": n,
                        "max_margin": args.max_margin,
                        "max_new_tokens": args.max_new_tokens,
                        "dtype": dtype_used,
                        "machine": machine(),
                        "generated": {str(k): v for k, v in generated.items()},
                        "generate_seconds": seconds,
                    },
                )
                print(f"generated {len(generated)}/{len(candidates)} in {seconds:.0f}s", flush=True)
        finally:
            backend.close()
    gen = {i: SampleVerdict.model_validate(v) for i, v in generated.items()}
    per_generate = seconds / max(len(gen), 1)
    per_logprob = stage["seconds"] / n
    # a placeholder where the 1.5B did not generate: never chosen at the margins replayed (all below max_margin)
    second = [gen.get(i, logprob[i]) for i in range(n)]
    logprob_alone = _Agreement(*_agreements(logprob, labelled))
    rows = []
    # margins replayed exactly: up to the distance of the least sure item the 1.5B did not generate on
    covered = min([distance[i] for i in range(n) if i not in gen] + [args.max_margin])
    for margin in sorted({m for m in CURVE_MARGINS if m < covered} | {math.floor(covered * 1e4) / 1e4}):
        deciding = replay_two(logprob, second, margin)
        assert all(i in gen for i, s in enumerate(deciding) if s == 1)
        chosen = [second[i] if s else logprob[i] for i, s in enumerate(deciding)]
        agreement = _Agreement(*_agreements(chosen, labelled))
        escalated = sum(deciding)
        tokens = sum(v.prompt_tokens + v.completion_tokens for v in logprob) + sum(
            second[i].prompt_tokens + second[i].completion_tokens for i, s in enumerate(deciding) if s
        )
        rows.append(
            {
                "margin": margin,
                "escalated": escalated / n,
                "agreement": estimate(agreement, n, 1000).model_dump(),
                "difference_to_logprob_alone": paired_statistic_difference(
                    logprob_alone, agreement, n, 1000
                ).model_dump(),
                "tokens": tokens,
                "seconds": n * per_logprob + escalated * per_generate,
            }
        )
    subset = sorted(gen)
    sub_labels = [labelled[i] for i in subset]
    on_subset = {
        "items": len(subset),
        "logprob": estimate(_Agreement(*_agreements([logprob[i] for i in subset], sub_labels)), len(subset), 1000),
        "generated": estimate(_Agreement(*_agreements([gen[i] for i in subset], sub_labels)), len(subset), 1000),
        "generated_unscored": sum(not gen[i].scored for i in subset),
    }
    results = {
        "items": n,
        "max_margin": args.max_margin,
        "margins_covered_up_to": covered,
        "max_new_tokens": args.max_new_tokens,
        "dtype_generate": dtype_used,
        "dtype_logprob": stage.get("dtype"),
        "seconds_per_logprob_verdict": per_logprob,
        "seconds_per_generated_verdict": per_generate,
        "logprob_alone": estimate(logprob_alone, n, 1000).model_dump(),
        "curve": rows,
        "on_generated_items": {k: v.model_dump() if hasattr(v, "model_dump") else v for k, v in on_subset.items()},
        "generated": {str(k): v for k, v in generated.items()},
        "generate_seconds": seconds,
        "machine": machine(),
    }
    write_result("judge_cascade_modes", results)
    print(f"\n1.5B log-prob alone: {results['logprob_alone']}; {per_logprob:.1f}s per log-prob verdict, ")
    print(f"{per_generate:.1f}s per generated verdict ({len(gen)} generated)")
    print(f"on the {len(subset)} generated items: {on_subset}\n")
    print("| margin | escalated | agreement [95% CI] | minus log-prob alone | tokens | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        a, d = r["agreement"], r["difference_to_logprob_alone"]
        print(
            f"| {r['margin']} | {r['escalated']:.0%} | {a['value']:.3f} [{a['low']:.3f}, {a['high']:.3f}] | "
            f"{d['value']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] | {r['tokens']:,} | {r['seconds']:.0f} |"
        )


def replay_two(first: list[SampleVerdict], second: list[SampleVerdict], margin: float) -> list[int]:
    from judgerl.validate.cascade_curve import StageRun

    return replay([StageRun("logprob", first, 0.0), StageRun("generate", second, 0.0)], [margin])


if __name__ == "__main__":
    main()
