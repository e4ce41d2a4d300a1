"""Fitting a judge's per-criterion thresholds: from a handful of labelled examples, or by contextual
calibration against content-free responses (Zhao et al., 2021: for two labels, dividing by the content-free
probabilities amounts to moving the threshold to the content-free P(PASS))."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence

from judgerl.errors import JudgerlError
from judgerl.judges.calibration import CONTENT_FREE_RESPONSES, Threshold, balanced_accuracy, fit_threshold
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.samples import LabelledSample, Sample

logger = logging.getLogger(__name__)


def labelled_thresholds(judge: RubricJudge, labelled: Sequence[LabelledSample]) -> dict[str, Threshold]:
    """For each criterion with labels, the threshold on p_pass that best separates the labels."""
    if judge.mode != "logprob":
        raise JudgerlError("threshold calibration needs logprob mode (p_pass); use --mode logprob")
    verdicts = judge.judge(list(labelled))
    thresholds: dict[str, Threshold] = {}
    for name in judge.rubric.names:
        scores, labels = [], []
        for sample, verdict in zip(labelled, verdicts, strict=True):
            criterion = next(c for c in verdict.criteria if c.name == name)
            if name in sample.labels and criterion.p_pass is not None:
                scores.append(criterion.p_pass)
                labels.append(sample.labels[name])
        if not scores:
            logger.warning("no labelled, scored examples for criterion %s; keeping its threshold", name)
            continue
        fitted = fit_threshold(scores, labels)
        before = balanced_accuracy(scores, labels, judge.threshold(name))
        logger.info(
            "%s: threshold %.3f (balanced accuracy %.2f, was %s at %.2f) from %d examples",
            name,
            fitted.threshold,
            fitted.balanced_accuracy or 0,
            "n/a" if before is None else f"{before:.2f}",
            judge.threshold(name),
            len(scores),
        )
        thresholds[name] = fitted
    return thresholds


def contextual_thresholds(judge: RubricJudge, prompts: Sequence[Sample]) -> dict[str, Threshold]:
    """Threshold = mean P(PASS) the judge gives content-free responses to these prompts, per criterion."""
    if judge.mode != "logprob":
        raise JudgerlError("contextual calibration needs logprob mode (p_pass); use --mode logprob")
    if not prompts:
        raise JudgerlError("contextual calibration needs at least one prompt")
    probes = [
        Sample(id=f"{sample.id}#cf{index}", prompt=sample.prompt, response=text, reference=sample.reference)
        for sample in prompts
        for index, text in enumerate(CONTENT_FREE_RESPONSES)
    ]
    verdicts = judge.judge(probes)
    thresholds: dict[str, Threshold] = {}
    for name in judge.rubric.names:
        values = [c.p_pass for v in verdicts for c in v.criteria if c.name == name and c.p_pass is not None]
        if values:
            thresholds[name] = Threshold(threshold=statistics.fmean(values), method="contextual", n=len(values))
    return thresholds
