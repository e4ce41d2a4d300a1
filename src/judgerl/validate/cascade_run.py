"""`judgerl validate --cascade`: each stage alone on labelled rows, the cascade's cost/agreement curve, and the
margins `judgerl calibrate --cascade` would fit; written to ``summary.json`` and ``verdicts-<stage>.jsonl``."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from judgerl.judges.budget import PriceTable
from judgerl.judges.cache import VerdictCache
from judgerl.judges.spec import JudgeSpec, load_cascade
from judgerl.rubric import Rubric
from judgerl.stats import Estimate, auc_estimate
from judgerl.validate.cascade_curve import (
    StageRun,
    cascade_curve,
    curve_table,
    fit_margins,
    judge_stages,
    require_prices,
)
from judgerl.validate.loaders import load_labelled_samples
from judgerl.validate.run import ValidationOptions


def stage_auc(run: StageRun, labels: list[dict[str, bool]]) -> Estimate:
    """AUC of a stage's P(PASS) for the labels, pooled over labelled criteria: does the stage carry signal?"""
    scores, truth = [], []
    for verdict, row in zip(run.verdicts, labels, strict=True):
        for criterion in verdict.criteria:
            if criterion.name in row and criterion.p_pass is not None:
                scores.append(criterion.p_pass)
                truth.append(row[criterion.name])
    return auc_estimate(scores, truth)


def validate_cascade(
    cascade_path: str | Path,
    rubric_path: str | Path,
    labels_path: str | Path,
    options: ValidationOptions,
    target_agreement: float,
    out_dir: Path,
    prices_path: str | Path | None = None,
) -> list[str]:
    """Run the suite; returns the lines to print. With ``prices_path`` each row is costed in dollars too."""
    prices = PriceTable.load(prices_path) if prices_path is not None else None
    rubric = Rubric.load(rubric_path)
    labelled = load_labelled_samples(labels_path, rubric)[: options.limit]
    spec = JudgeSpec(cascade=load_cascade(cascade_path), concurrency=options.concurrency)
    if prices is not None:  # before any judging; the curve checks again with the models the backends report
        require_prices(prices, [m for m in (stage.backend_kwargs().get("model") for stage in spec.cascade) if m])
    cache = VerdictCache(options.cache) if options.cache else None
    try:
        runs = judge_stages(spec, rubric, labelled, cache=cache)
    finally:
        if cache is not None:
            cache.close()
    curve = cascade_curve(runs, labelled, resamples=options.resamples, prices=prices)
    fit = fit_margins(runs, labelled, target_agreement)
    labels = [sample.labels for sample in labelled]
    aucs = [stage_auc(run, labels) for run in runs]
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, run in enumerate(runs, start=1):
        with (out_dir / f"verdicts-{index}.jsonl").open("w", encoding="utf-8") as out:
            for verdict in run.verdicts:
                out.write(verdict.model_dump_json() + "\n")
    summary = {
        "kind": "cascade",
        "command": "judgerl " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "data": {"rubric": str(rubric_path), "labels": str(labels_path), "cascade": str(cascade_path)},
        "prices": str(prices_path) if prices_path is not None else None,
        "rows": len(labelled),
        "stages": [{"model": r.model, "seconds": r.seconds, "auc": aucs[i].model_dump()} for i, r in enumerate(runs)],
        "curve": [point.model_dump() for point in curve],
        "fitted_margins": fit.model_dump(),
        "cached_verdicts": options.cache is not None,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    lines = [f"cascade of {len(runs)} stages on {len(labelled)} labelled rows ({rubric_path})"]
    for index, (run, auc) in enumerate(zip(runs, aucs, strict=True), start=1):
        lines.append(f"stage {index} ({run.model}): AUC {auc}, {run.seconds:.1f}s alone")
    lines += curve_table(curve)
    lines.append(
        f"margins fitted to {target_agreement:.0%} of the last stage's agreement: {fit.margins} "
        f"(agreement {fit.agreement:.3f} vs {fit.last_stage_agreement:.3f} alone, "
        f"{fit.escalated:.0%} escalated; in-sample: `judgerl calibrate --cascade` saves them)"
    )
    if prices is None:
        lines.append("cost in tokens and seconds; give --prices PRICES.yaml for dollars")
    if options.cache:
        lines.append("seconds include verdicts read from the cache (--cache): time a stage without it")
    lines.append(f"wrote {out_dir / 'summary.json'}")
    return lines
