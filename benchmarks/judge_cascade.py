"""The by-model cascade ladder: the packaged 0.5B judge first, the 1.5B only where the 0.5B is unsure.

80 labelled GSM8K solutions (40 problems x {the reference solution, the same with a wrong final number}), the
criterion "the final answer equals the reference's", judged with the reference shown, log-prob verdicts. Each
stage judges all 80 alone (timed); the cascade at each margin is replayed from those verdicts with the cascade's
own escalation rule (judgerl.validate.cascade_curve). Two threshold settings: 0.5 (no calibration), and
thresholds fitted per stage on the other half of the problems (2-fold cross-fitting, so no verdict is judged
against a threshold fitted on its own label). The margin fitted to --target of the 1.5B's agreement is reported
in-sample and cross-fitted (fitted on one half of the problems, applied to the other).

The stage verdicts are saved after each stage; --replay reuses the stages a saved run has and judges the rest.
--dtype sets both stages' weights (auto: bf16 on a CPU with native bf16, else fp32); the dtype each stage
actually ran in is recorded with its seconds.

Usage: nice -n 5 python benchmarks/judge_cascade.py [--pairs 40] [--dtype auto] [--threads 2]
       [--replay benchmarks/results/judge_cascade.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, gsm8k_pairs, machine, write_result
from judgerl.judges.calibration import fit_threshold
from judgerl.judges.spec import JudgeSpec
from judgerl.rubric import Rubric
from judgerl.samples import LabelledSample
from judgerl.stats import auc_estimate, estimate, paired_statistic_difference
from judgerl.validate.cascade_curve import (
    CURVE_MARGINS,
    StageRun,
    _Agreement,
    _agreements,
    cascade_curve,
    fit_margins,
    replay,
)
from judgerl.verdicts import SampleVerdict

NAME = "final_answer_correct"
RUBRIC = Rubric.from_dict(
    {
        "name": "math-reference",
        "use_reference": True,
        "criteria": [{"name": NAME, "text": "The final answer in the response equals the reference's final answer."}],
    }
)
MODELS = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


def labelled_set(pairs: int) -> list[LabelledSample]:
    rows = []
    for good, bad in gsm8k_pairs(pairs, seed=3):
        rows.append(LabelledSample(**good.model_dump(), labels={NAME: True}))
        rows.append(LabelledSample(**bad.model_dump(), labels={NAME: False}))
    return rows


def judge_alone(model: str, labelled: list[LabelledSample], dtype: str, threads: int | None) -> tuple[StageRun, str]:
    """The model's verdicts on every labelled sample (timed, after one untimed warm-up), and its weights' dtype."""
    spec = JudgeSpec(model=model, options={"dtype": dtype, "threads": threads}, rationales="none")
    backend = spec.build_backend()
    try:
        used = str(backend.model.dtype).removeprefix("torch.")  # type: ignore[attr-defined]
        judge = spec.single_rubric_judge(RUBRIC, backend)
        judge.judge([labelled[0]])  # warm-up, not timed
        done = 0
        started = time.perf_counter()

        def progress(_: SampleVerdict) -> None:
            nonlocal done
            done += 1
            if done % 10 == 0 or done == len(labelled):
                print(f"{model}: {done}/{len(labelled)} in {time.perf_counter() - started:.0f}s", flush=True)

        verdicts = judge.judge(list(labelled), progress)
        return StageRun(model=model, verdicts=verdicts, seconds=time.perf_counter() - started), used
    finally:
        backend.close()


def with_thresholds(run: StageRun, thresholds: list[float]) -> StageRun:
    """The run's verdicts re-read at per-sample thresholds (the soft P(PASS) is unchanged)."""
    verdicts = []
    for verdict, threshold in zip(run.verdicts, thresholds, strict=True):
        criteria = [
            c.model_copy(update={"threshold": threshold, "passed": c.p_pass >= threshold})
            if c.p_pass is not None
            else c
            for c in verdict.criteria
        ]
        verdicts.append(verdict.model_copy(update={"criteria": criteria}))
    return StageRun(model=run.model, verdicts=verdicts, seconds=run.seconds)


def cross_fitted(run: StageRun, labelled: list[LabelledSample]) -> tuple[StageRun, list[float]]:
    """Thresholds fitted on one half of the problems, applied to the other half (pairs stay together)."""
    n = len(labelled)
    folds = [[i for i in range(n) if (i // 2) % 2 == fold] for fold in (0, 1)]
    thresholds = [0.5] * n
    fitted = []
    for fold in (0, 1):
        train = folds[1 - fold]
        scores = [run.verdicts[i].criteria[0].p_pass or 0.0 for i in train]
        value = fit_threshold(scores, [labelled[i].labels[NAME] for i in train]).threshold
        fitted.append(value)
        for i in folds[fold]:
            thresholds[i] = value
    return with_thresholds(run, thresholds), fitted


def subset(run: StageRun, items: list[int]) -> StageRun:
    return StageRun(run.model, [run.verdicts[i] for i in items], run.seconds * len(items) / len(run.verdicts))


def cross_fitted_margin(runs: list[StageRun], labelled: list[LabelledSample], target: float) -> dict[str, Any]:
    """Margins fitted to ``target`` on one half of the problems and applied to the other half, both ways."""
    n = len(labelled)
    folds = [[i for i in range(n) if (i // 2) % 2 == fold] for fold in (0, 1)]
    deciding = [0] * n
    margins = []
    for fold in (0, 1):
        train = folds[1 - fold]
        fit = fit_margins([subset(r, train) for r in runs], [labelled[i] for i in train], target)
        margins.append(fit.margins)
        for i, stage in zip(folds[fold], replay([subset(r, folds[fold]) for r in runs], fit.margins), strict=True):
            deciding[i] = stage
    chosen = [runs[stage].verdicts[i] for i, stage in enumerate(deciding)]
    cascade = _Agreement(*_agreements(chosen, labelled))
    last = _Agreement(*_agreements(runs[-1].verdicts, labelled))
    tokens = sum(
        runs[s].verdicts[i].prompt_tokens + runs[s].verdicts[i].completion_tokens
        for i, stage in enumerate(deciding)
        for s in range(stage + 1)
    )
    seconds = sum(runs[s].seconds / n for stage in deciding for s in range(stage + 1))
    return {
        "fold_margins": margins,
        "escalated": sum(stage > 0 for stage in deciding) / n,
        "last_stage_share": sum(stage == len(runs) - 1 for stage in deciding) / n,
        "agreement": estimate(cascade, n, 1000).model_dump(),
        "last_alone": estimate(last, n, 1000).model_dump(),
        "difference_to_last": paired_statistic_difference(last, cascade, n, 1000).model_dump(),
        "tokens": tokens,
        "seconds": seconds,
    }


def table(points: list[dict[str, Any]]) -> str:
    lines = [
        "| judge | margin | escalated | 1.5B calls | agreement [95% CI] | vs 1.5B alone | tokens | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        a, d = p["agreement"], p["difference_to_last"]
        escalated = f"{p['escalated']:.0%}" if p["escalated"] is not None else "-"
        versus = f"{d['value']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]" if d else "-"
        lines.append(
            f"| {p['label']} | {p['margin'] if p['margin'] is not None else '-'} | {escalated} | "
            f"{p['last_stage_share']:.0%} | {a['value']:.3f} [{a['low']:.3f}, {a['high']:.3f}] | {versus} | "
            f"{p['tokens']:,} | {p['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        help="Reuse the stage verdicts of an earlier run; judge the stages it lacks.",
    )
    parser.add_argument("--target", type=float, default=0.95, help="Target share of the 1.5B's agreement.")
    parser.add_argument("--dtype", default="auto", help="Weights of both stages: auto, bfloat16, float32.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own).")
    args = parser.parse_args()
    labelled = labelled_set(args.pairs)
    stages: list[dict[str, Any]] = []
    judged_on = machine()
    if args.replay is not None:
        saved = json.loads(args.replay.read_text(encoding="utf-8"))
        stages = [{k: s[k] for k in ("model", "seconds", "dtype", "verdicts") if k in s} for s in saved["stages"]]
        judged_on = saved["machine"]
    for model in MODELS[len(stages) :]:
        run, dtype = judge_alone(model, labelled, args.dtype, args.threads)
        if not stages:
            judged_on = machine()
        stages.append(
            {"model": model, "seconds": run.seconds, "dtype": dtype, "verdicts": [v.model_dump() for v in run.verdicts]}
        )
        # replayable after each stage
        path = write_result("judge_cascade", {"items": len(labelled), "machine": judged_on, "stages": stages})
        if len(stages) < len(MODELS):
            # the next stage in a fresh process: a closed backend's memory is not all given back, and with both
            # models resident this run pushed a shared 24 GiB machine into the OOM killer
            argv, rest = [], iter(sys.argv[1:])
            for arg in rest:
                if arg == "--replay":
                    next(rest, None)  # and its value
                elif not arg.startswith("--replay="):
                    argv.append(arg)
            os.execv(sys.executable, [sys.executable, __file__, *argv, "--replay", str(path)])
    runs = [
        StageRun(s["model"], [SampleVerdict.model_validate(v) for v in s["verdicts"]], s["seconds"]) for s in stages
    ]
    labels = [s.labels[NAME] for s in labelled]
    results: dict[str, Any] = {
        "items": len(labelled),
        "machine": judged_on,
        "stages": [
            {
                "model": run.model,
                "seconds": run.seconds,
                "dtype": stage.get("dtype", "not recorded"),
                "auc": auc_estimate([v.criteria[0].p_pass or 0.0 for v in run.verdicts], labels).model_dump(),
                "verdicts": [v.model_dump() for v in run.verdicts],
            }
            for run, stage in zip(runs, stages, strict=True)
        ],
        "settings": {},
    }
    for setting in ("threshold 0.5", "cross-fitted thresholds"):
        if setting == "threshold 0.5":
            used, fitted = runs, None
        else:
            pairs = [cross_fitted(run, labelled) for run in runs]
            used, fitted = [p[0] for p in pairs], {run.model: p[1] for run, p in zip(runs, pairs, strict=True)}
        points = [p.model_dump() for p in cascade_curve(used, labelled, CURVE_MARGINS)]
        fit = fit_margins(used, labelled, args.target).model_dump()
        crossed = cross_fitted_margin(used, labelled, args.target)
        results["settings"][setting] = {
            "fold_thresholds": fitted,
            "curve": points,
            "fitted_in_sample": fit,
            "fitted_cross": crossed,
        }
    path = write_result("judge_cascade", results)
    print(f"written {path}\n")
    for run, stage in zip(runs, results["stages"], strict=True):
        auc = stage["auc"]
        print(
            f"{run.model} ({stage['dtype']}): AUC {auc['value']:.2f} [{auc['low']:.2f}, {auc['high']:.2f}], "
            f"{run.seconds:.0f}s alone"
        )
    for setting, data in results["settings"].items():
        print(f"\n### {setting}\n")
        print(table(data["curve"]))
        print(f"\nmargin fitted in-sample to {args.target:.0%} of the 1.5B's agreement: {data['fitted_in_sample']}")
        print(f"margin cross-fitted (one half of the problems -> the other): {data['fitted_cross']}")


if __name__ == "__main__":
    RESULTS.mkdir(parents=True, exist_ok=True)
    main()
