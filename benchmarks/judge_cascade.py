"""The by-model cascade ladder: the packaged 0.5B judge first, the 1.5B only where the 0.5B is unsure.

80 labelled GSM8K solutions (40 problems x {the reference solution, the same with a wrong final number}), the
criterion "the final answer equals the reference's", judged with the reference shown, log-prob verdicts. Each
stage judges all 80 alone (timed); the cascade at each margin is replayed from those verdicts with the cascade's
own escalation rule (judgerl.validate.cascade_curve). Two threshold settings: 0.5 (no calibration), and
thresholds fitted per stage on the other half of the problems (2-fold cross-fitting, so no verdict is judged
against a threshold fitted on its own label).

Usage: nice -n 19 python benchmarks/judge_cascade.py [--pairs 40] [--replay benchmarks/results/judge_cascade.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, gsm8k_pairs, machine, write_result
from judgerl.backends import build_backend
from judgerl.judges.calibration import fit_threshold
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.rubric import Rubric
from judgerl.samples import LabelledSample
from judgerl.stats import auc_estimate
from judgerl.validate.cascade_curve import CURVE_MARGINS, StageRun, cascade_curve, fit_margins
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


def judge_alone(model: str, labelled: list[LabelledSample]) -> StageRun:
    backend = build_backend("transformers", model=model)
    try:
        judge = RubricJudge(RUBRIC, backend, rationales="none")
        judge.judge([labelled[0]])  # warm-up, not timed
        started = time.perf_counter()
        verdicts = judge.judge(list(labelled))
        return StageRun(model=model, verdicts=verdicts, seconds=time.perf_counter() - started)
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
    parser.add_argument("--replay", type=Path, default=None, help="Reuse the stage verdicts of an earlier run.")
    parser.add_argument("--target", type=float, default=0.95, help="Target share of the 1.5B's agreement.")
    args = parser.parse_args()
    labelled = labelled_set(args.pairs)
    if args.replay is not None:
        saved = json.loads(args.replay.read_text(encoding="utf-8"))
        runs = [
            StageRun(s["model"], [SampleVerdict.model_validate(v) for v in s["verdicts"]], s["seconds"])
            for s in saved["stages"]
        ]
        judged_on = saved["machine"]
    else:
        runs = [judge_alone(model, labelled) for model in MODELS]
        judged_on = machine()
        stages = [
            {"model": r.model, "seconds": r.seconds, "verdicts": [v.model_dump() for v in r.verdicts]} for r in runs
        ]
        write_result("judge_cascade", {"items": len(labelled), "machine": judged_on, "stages": stages})  # replayable
    labels = [s.labels[NAME] for s in labelled]
    results: dict[str, Any] = {
        "items": len(labelled),
        "machine": judged_on,
        "stages": [
            {
                "model": run.model,
                "seconds": run.seconds,
                "auc": auc_estimate([v.criteria[0].p_pass or 0.0 for v in run.verdicts], labels).model_dump(),
                "verdicts": [v.model_dump() for v in run.verdicts],
            }
            for run in runs
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
        results["settings"][setting] = {"fold_thresholds": fitted, "curve": points, "fitted_in_sample": fit}
    path = write_result("judge_cascade", results)
    print(f"written {path}\n")
    for run, stage in zip(runs, results["stages"], strict=True):
        auc = stage["auc"]
        print(f"{run.model}: AUC {auc['value']:.2f} [{auc['low']:.2f}, {auc['high']:.2f}], {run.seconds:.0f}s alone")
    for setting, data in results["settings"].items():
        print(f"\n### {setting}\n")
        print(table(data["curve"]))
        print(f"\nmargin fitted in-sample to {args.target:.0%} of the 1.5B's agreement: {data['fitted_in_sample']}")


if __name__ == "__main__":
    RESULTS.mkdir(parents=True, exist_ok=True)
    main()
