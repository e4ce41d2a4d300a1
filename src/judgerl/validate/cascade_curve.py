"""A cascade's cost/agreement curve on labelled samples, and its margins fitted to a target agreement.

Every stage judges every labelled sample once, alone; the cascade at any margin is then replayed from those
verdicts with the cascade's own escalation rule (:func:`judgerl.judges.cascade.sample_unsure`). Stages are
deterministic given the sample, so the replay gives the verdicts the cascade would give, at the cost of one run
per stage instead of one per margin. Agreement is the share of labelled criteria whose hard verdict equals the
label (an unscored verdict disagrees), with a bootstrap interval over samples (:mod:`judgerl.stats`); cost is
tokens, and seconds estimated as each stage's measured seconds per sample times the samples it judges; dollars only
with a price table (:class:`judgerl.judges.budget.PriceTable`), which then needs a price for every stage's model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from judgerl.errors import JudgerlError
from judgerl.judges.budget import PriceTable
from judgerl.judges.cache import VerdictCache
from judgerl.judges.calibration import MarginFit
from judgerl.judges.cascade import CascadeBackends, sample_unsure
from judgerl.judges.spec import JudgeSpec
from judgerl.rubric import Rubric
from judgerl.samples import LabelledSample
from judgerl.stats import Estimate, estimate, paired_statistic_difference
from judgerl.verdicts import SampleVerdict

#: margins the curve is drawn at (the same margin on every escalating stage)
CURVE_MARGINS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 1.0)


@dataclass
class StageRun:
    """One stage's verdicts on every labelled sample, judged alone, and the seconds that took."""

    model: str
    verdicts: list[SampleVerdict]
    seconds: float


class CurvePoint(BaseModel):
    """One row of the curve: a stage alone (``margin`` None) or the cascade at one margin."""

    label: str
    margin: float | None = None
    escalated: float | None = None
    last_stage_share: float
    agreement: Estimate
    difference_to_last: Estimate | None = None
    decided_by_stage: list[int]
    tokens: int
    seconds: float
    cost_usd: float | None = None


def judge_stages(
    spec: JudgeSpec,
    rubric: Rubric,
    labelled: Sequence[LabelledSample],
    cache: VerdictCache | None = None,
    progress: Callable[[SampleVerdict], None] | None = None,
) -> list[StageRun]:
    """Every stage of ``spec``'s cascade judges every labelled sample alone (no rationales), timed."""
    backend = spec.build_backend()
    assert isinstance(backend, CascadeBackends)
    runs = []
    try:
        for stage, stage_backend in zip(spec.cascade, backend.stages, strict=True):
            judge = stage.model_copy(update={"rationales": "none"}).single_rubric_judge(
                rubric, stage_backend, cache=cache
            )
            started = time.perf_counter()
            verdicts = judge.judge(list(labelled), progress)
            runs.append(StageRun(stage_backend.model_id, verdicts, time.perf_counter() - started))
    finally:
        backend.close()
    return runs


def replay(runs: Sequence[StageRun], margins: Sequence[float]) -> list[int]:
    """The index of the stage that decides each sample, for these margins (one per stage but the last)."""
    deciding = []
    for item in range(len(runs[0].verdicts)):
        stage = 0
        while stage < len(runs) - 1 and sample_unsure(runs[stage].verdicts[item], margins[stage]):
            stage += 1
        deciding.append(stage)
    return deciding


def _agreements(verdicts: Sequence[SampleVerdict], labelled: Sequence[LabelledSample]) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: labelled criteria whose hard verdict equals the label, and labelled criteria."""
    agree, total = np.zeros(len(labelled)), np.zeros(len(labelled))
    for index, (verdict, sample) in enumerate(zip(verdicts, labelled, strict=True)):
        by_name = {c.name: c for c in verdict.criteria}
        for name, label in sample.labels.items():
            if name not in by_name and verdict.criteria:
                continue
            total[index] += 1
            criterion = by_name.get(name)
            agree[index] += bool(verdict.scored and criterion is not None and criterion.passed == label)
    return agree, total


class _Agreement:
    def __init__(self, agree: np.ndarray, total: np.ndarray) -> None:
        self.agree, self.total = agree, total

    def __call__(self, indices: np.ndarray) -> float | None:
        total = float(self.total[indices].sum())
        return float(self.agree[indices].sum()) / total if total else None


def _point(
    label: str,
    runs: Sequence[StageRun],
    deciding: Sequence[int],
    labelled: Sequence[LabelledSample],
    last_alone: _Agreement | None,
    margin: float | None = None,
    resamples: int = 1000,
    first: int = 0,
    prices: PriceTable | None = None,
) -> CurvePoint:
    """The row for samples decided by ``deciding`` stages, each having gone through stages ``first``.. it."""
    chosen = [runs[stage].verdicts[item] for item, stage in enumerate(deciding)]
    agreement = _Agreement(*_agreements(chosen, labelled))
    n = len(labelled)
    tokens = 0
    seconds = 0.0
    cost = 0.0
    for item, stage in enumerate(deciding):
        for visited in range(first, stage + 1):
            verdict = runs[visited].verdicts[item]
            tokens += verdict.prompt_tokens + verdict.completion_tokens
            seconds += runs[visited].seconds / n
            price = prices.price(runs[visited].model) if prices is not None else None
            if price is not None:
                cost += price.cost(verdict.prompt_tokens, verdict.completion_tokens)
    return CurvePoint(
        label=label,
        margin=margin,
        escalated=sum(stage > first for stage in deciding) / n if margin is not None else None,
        last_stage_share=sum(stage == len(runs) - 1 for stage in deciding) / n,
        agreement=estimate(agreement, n, resamples),
        difference_to_last=(
            paired_statistic_difference(last_alone, agreement, n, resamples) if last_alone is not None else None
        ),
        decided_by_stage=[sum(stage == s for stage in deciding) for s in range(len(runs))],
        tokens=tokens,
        seconds=seconds,
        cost_usd=cost if prices is not None else None,
    )


def require_prices(prices: PriceTable, models: Sequence[str]) -> None:
    """A set-up error naming every model the table has no price for."""
    missing = sorted({model for model in models if prices.price(model) is None})
    if missing:
        raise JudgerlError(
            f"the price table has no price for {', '.join(missing)} (priced: "
            f"{', '.join(sorted(prices.prices)) or 'none'}); a local model's price is {{input: 0, output: 0}}"
        )


def cascade_curve(
    runs: Sequence[StageRun],
    labelled: Sequence[LabelledSample],
    margins: Sequence[float] = CURVE_MARGINS,
    resamples: int = 1000,
    prices: PriceTable | None = None,
) -> list[CurvePoint]:
    """Each stage alone, then the cascade at each margin (the same margin on every escalating stage).

    With ``prices``, each row also costs its verdicts' tokens in dollars; every stage's model needs a price
    (a local model's is ``{input: 0, output: 0}``), so no row is silently cheaper than it was."""
    if len(runs) < 2 or any(len(run.verdicts) != len(labelled) for run in runs):
        raise JudgerlError("a cascade curve needs two or more stages, each with a verdict per labelled sample")
    if prices is not None:
        require_prices(prices, [run.model for run in runs])
    last = len(runs) - 1
    last_alone = _Agreement(*_agreements(runs[last].verdicts, labelled))
    points = []
    for index, run in enumerate(runs):
        alone = [index] * len(labelled)
        label = f"stage {index + 1} alone ({run.model})"
        points.append(_point(label, runs, alone, labelled, None, None, resamples, first=index, prices=prices))
    for margin in margins:
        deciding = replay(runs, [margin] * last)
        points.append(_point("cascade", runs, deciding, labelled, last_alone, margin, resamples, prices=prices))
    return points


def fit_margins(runs: Sequence[StageRun], labelled: Sequence[LabelledSample], target: float) -> MarginFit:
    """The smallest margins (fewest escalations) that keep ``target`` of the last stage's agreement.

    Fitted from the last escalating stage back to the first: each stage gets the smallest margin, among the
    distances of its P(PASS) to the thresholds, at which the cascade from it onwards still agrees with the
    labels at least ``target`` times as often as the last stage alone. A first stage that carries no signal
    gets a margin that escalates (nearly) everything, and the fit says so in ``escalated``."""
    if not 0.0 < target <= 1.0:
        raise JudgerlError(f"--target-agreement {target}: must be in (0, 1]")
    if len(runs) < 2 or any(len(run.verdicts) != len(labelled) for run in runs):
        raise JudgerlError("fitting margins needs two or more stages, each with a verdict per labelled sample")
    last = len(runs) - 1
    agree_last, total = _agreements(runs[last].verdicts, labelled)
    if not total.sum():
        raise JudgerlError("no labels match the rubric's criteria names: nothing to fit the margins on")
    goal = target * agree_last.sum() / total.sum()
    margins = [1.0] * last
    for stage in reversed(range(last)):
        candidates = sorted({0.0, 1.0} | set(_distances(runs[stage].verdicts)))
        for candidate in candidates:
            trial = margins[stage:]
            trial[0] = candidate
            chosen = [runs[stage + s].verdicts[item] for item, s in enumerate(replay(runs[stage:], trial))]
            agree, _ = _agreements(chosen, labelled)
            if agree.sum() / total.sum() >= goal - 1e-12:
                margins[stage] = candidate
                break
    deciding = replay(runs, margins)
    chosen = [runs[s].verdicts[item] for item, s in enumerate(deciding)]
    agree, _ = _agreements(chosen, labelled)
    return MarginFit(
        margins=margins,
        target=target,
        n=len(labelled),
        agreement=float(agree.sum() / total.sum()),
        last_stage_agreement=float(agree_last.sum() / total.sum()),
        escalated=sum(s > 0 for s in deciding) / len(labelled),
    )


def _distances(verdicts: Sequence[SampleVerdict]) -> list[float]:
    """Margins just above each verdict's closest criterion distance: the margins at which escalation changes."""
    out = []
    for verdict in verdicts:
        distances = [abs(c.p_pass - c.threshold) for c in verdict.criteria if c.p_pass is not None]
        if distances:
            out.append(min(1.0, min(distances) + 1e-9))
    return out


def curve_table(points: Sequence[CurvePoint]) -> list[str]:
    """The curve as a Markdown table: share escalated, share of items the last stage judged, agreement, cost
    (a dollars column only where the points were priced)."""
    dollars = any(p.cost_usd is not None for p in points)
    lines = [
        "| judge | margin | escalated | last-stage calls | agreement [95% CI] | minus last stage alone | tokens | "
        "seconds |" + (" dollars |" if dollars else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|" if dollars else ""),
    ]
    for p in points:
        a, d = p.agreement, p.difference_to_last
        escalated = f"{p.escalated:.0%}" if p.escalated is not None else "-"
        versus = _format(d, "+.3f") if d is not None else "-"
        agreement = _format(a, ".3f")
        cost = (f" {p.cost_usd:.4f} |" if p.cost_usd is not None else " - |") if dollars else ""
        lines.append(
            f"| {p.label} | {p.margin if p.margin is not None else '-'} | {escalated} | {p.last_stage_share:.0%} | "
            f"{agreement} | {versus} | {p.tokens:,} | {p.seconds:.1f} |{cost}"
        )
    return lines


def _format(value: Estimate, spec: str) -> str:
    if value.value is None:
        return "-"
    if value.low is None or value.high is None:
        return format(value.value, spec)
    return f"{value.value:{spec}} [{value.low:{spec}}, {value.high:{spec}}]"
