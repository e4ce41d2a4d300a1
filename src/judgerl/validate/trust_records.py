"""The trust records a validation run leaves beside the rubric (or for pairs): each judge's headline figure, so
every door can show how far this judge is trusted on this rubric (judgerl.judges.trust)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from judgerl.judges.trust import Metric, TrustRecord, save_trust
from judgerl.stats import Estimate
from judgerl.validate.pairwise import PairwiseReport
from judgerl.validate.rubric import RubricReport


def headline_figure(report: PairwiseReport | RubricReport) -> tuple[Metric, Estimate] | None:
    """Rubric labels: AUC of P(PASS) (balanced accuracy where there are no probabilities, as in generate mode);
    pairs: order-averaged accuracy. None for other reports (the injection suite measures no agreement)."""
    if isinstance(report, PairwiseReport):
        return "order_averaged_accuracy", report.headline["accuracy_order_averaged"]
    if isinstance(report, RubricReport):
        auc = report.overall.headline.get("auc")
        if auc is not None and auc.value is not None:
            return "auc", auc
        return "balanced_accuracy", report.overall.headline["balanced_accuracy"]
    return None


def save_validation_trust(
    rubric_source: str | Path | None,
    judges: Sequence[tuple[str, object]],
    data: str | Path,
) -> list[str]:
    """Save one record per judge model (the first report of a model wins: it is the judge as asked); returns the
    lines saying what was saved."""
    saved: list[str] = []
    seen: set[str] = set()
    for model_id, report in judges:
        if model_id in seen or not isinstance(report, PairwiseReport | RubricReport):
            continue
        seen.add(model_id)
        figure = headline_figure(report)
        if figure is None:
            continue
        record = TrustRecord.measured("validate", figure[0], figure[1], data, heldout=True)
        if record is None:
            continue
        path = save_trust(rubric_source, model_id, record)
        verdict = "passes" if record.passed else "does not pass"
        saved.append(f"trust record for {model_id}: {figure[0]} {figure[1]} {verdict} the bar; saved to {path}")
    return saved
