"""Pairwise judge validation against human preferences: accuracy in each order and order-averaged, position
consistency, ties, Cohen's kappa, and accuracy against the length difference of the two answers.

Conventions. Order 1 shows the pair as labelled (response A first), order 2 swapped. A single-order pick is
A when P(A better) > 0.5 in that order. The order-averaged pick uses the mean of both orders and an exact 0.5
scores half (as a coin flip would). The judge's *verdict* (``PairVerdict.winner``) is a tie when the orders
disagree; accuracy of verdicts counts a tie as wrong. Pairs the humans called a tie take part only in the
three-way kappa and the tie counts. Lengths are in words.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.stats import Estimate, Statistic, cohen_kappa, estimate, paired_statistic_difference, select
from judgerl.validate.loaders import HumanLabel, LabelledPair
from judgerl.verdicts import PairVerdict


class PairRecord(BaseModel):
    """One pair's human label, the judge's probabilities and the answers' lengths (verdicts.jsonl rows)."""

    model_config = ConfigDict(frozen=True)

    id: str
    human: HumanLabel
    words_a: int
    words_b: int
    p_a_first_order: float | None
    p_a_second_order: float | None
    p_a: float | None
    winner: str | None
    consistent: bool | None
    unscored_reason: str | None = None

    @property
    def scored(self) -> bool:
        return self.p_a_first_order is not None and self.p_a_second_order is not None


class LengthBin(BaseModel):
    """Pairs whose (human-preferred minus other) length difference in words lies in [low, high]."""

    low: int
    high: int
    accuracy_order_averaged: Estimate


class PairwiseReport(BaseModel):
    kind: str = "pairwise"
    judge: str
    n_pairs: int
    n_scored: int
    unscored_reasons: dict[str, int]
    human_labels: dict[str, int]
    headline: dict[str, Estimate]
    human_longer_rate: Estimate
    judge_longer_rate: Estimate
    length_bins: list[LengthBin]
    annotator_agreement: float | None = None


def _words(text: str) -> int:
    return len(text.split())


def pair_records(pairs: Sequence[LabelledPair], verdicts: Sequence[PairVerdict]) -> list[PairRecord]:
    return [
        PairRecord(
            id=item.pair.id,
            human=item.human,
            words_a=_words(item.pair.response_a),
            words_b=_words(item.pair.response_b),
            p_a_first_order=verdict.p_a_first_order,
            p_a_second_order=verdict.p_a_second_order,
            p_a=verdict.p_a,
            winner=verdict.winner,
            consistent=verdict.consistent,
            unscored_reason=verdict.unscored_reason,
        )
        for item, verdict in zip(pairs, verdicts, strict=True)
    ]


def _pick(p_a: float) -> float:
    """Credit for picking A: 1 above 0.5, 0 below, 0.5 exactly at 0.5."""
    return 1.0 if p_a > 0.5 else 0.0 if p_a < 0.5 else 0.5


def _credit(p_a: float, human: HumanLabel) -> float:
    pick_a = _pick(p_a)
    return pick_a if human == "A" else 1.0 - pick_a


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def pairwise_statistics(records: Sequence[PairRecord]) -> dict[str, Statistic]:
    """Headline statistics over scored pairs, each a function of resampled record indices."""

    def decided(indices: np.ndarray) -> list[PairRecord]:
        return [r for r in select(records, indices) if r.scored and r.human != "tie"]

    def scored(indices: np.ndarray) -> list[PairRecord]:
        return [r for r in select(records, indices) if r.scored]

    def accuracy_first(indices: np.ndarray) -> float | None:
        return _mean([_credit(r.p_a_first_order or 0.0, r.human) for r in decided(indices)])

    def accuracy_second(indices: np.ndarray) -> float | None:
        return _mean([_credit(r.p_a_second_order or 0.0, r.human) for r in decided(indices)])

    def accuracy_averaged(indices: np.ndarray) -> float | None:
        return _mean([_credit(r.p_a or 0.0, r.human) for r in decided(indices)])

    def accuracy_verdicts(indices: np.ndarray) -> float | None:
        return _mean([float(r.winner == r.human) for r in decided(indices)])

    def consistency(indices: np.ndarray) -> float | None:
        return _mean([float(bool(r.consistent)) for r in scored(indices)])

    def tie_rate(indices: np.ndarray) -> float | None:
        return _mean([float(r.winner == "tie") for r in scored(indices)])

    def first_position(indices: np.ndarray) -> float | None:
        # order 1 shows A first (picks first when P(A) > 0.5); order 2 shows B first (picks first when P(A) < 0.5)
        picks = []
        for r in scored(indices):
            picks += [_pick(r.p_a_first_order or 0.0), 1.0 - _pick(r.p_a_second_order or 0.0)]
        return _mean(picks)

    def kappa(indices: np.ndarray) -> float | None:
        rows = decided(indices)
        judged = ["A" if (r.p_a or 0.0) > 0.5 else "B" if (r.p_a or 0.0) < 0.5 else "tie" for r in rows]
        return cohen_kappa(judged, [r.human for r in rows])

    def kappa_three_way(indices: np.ndarray) -> float | None:
        rows = scored(indices)
        return cohen_kappa([r.winner or "tie" for r in rows], [r.human for r in rows])

    return {
        "accuracy_order_averaged": accuracy_averaged,
        "accuracy_first_order": accuracy_first,
        "accuracy_second_order": accuracy_second,
        "accuracy_verdicts": accuracy_verdicts,
        "position_consistency": consistency,
        "tie_rate": tie_rate,
        "first_position_rate": first_position,
        "kappa": kappa,
        "kappa_three_way": kappa_three_way,
    }


def _longer_rates(records: Sequence[PairRecord]) -> tuple[Statistic, Statistic]:
    """Share of pairs (different lengths, humans not tied) where humans / the judge prefer the longer answer."""

    def rows(indices: np.ndarray) -> list[PairRecord]:
        return [r for r in select(records, indices) if r.scored and r.human != "tie" and r.words_a != r.words_b]

    def human(indices: np.ndarray) -> float | None:
        return _mean([float((r.human == "A") == (r.words_a > r.words_b)) for r in rows(indices)])

    def judge(indices: np.ndarray) -> float | None:
        return _mean([_pick(r.p_a or 0.0) if r.words_a > r.words_b else 1 - _pick(r.p_a or 0.0) for r in rows(indices)])

    return human, judge


def _length_bins(records: Sequence[PairRecord], bins: int, resamples: int, seed: int) -> list[LengthBin]:
    """Order-averaged accuracy in quantile bins of (preferred minus other) length difference."""
    rows = [r for r in records if r.scored and r.human != "tie"]
    if len(rows) < bins * 5:
        bins = max(1, len(rows) // 5)
    if not rows:
        return []

    def difference(r: PairRecord) -> int:
        return (r.words_a - r.words_b) if r.human == "A" else (r.words_b - r.words_a)

    ordered = sorted(rows, key=difference)
    groups = [list(chunk) for chunk in np.array_split(np.arange(len(ordered)), bins) if len(chunk)]
    out = []
    for seat, group in enumerate(groups):
        members = [ordered[i] for i in group]

        def accuracy(indices: np.ndarray, members: list[PairRecord] = members) -> float | None:
            return _mean([_credit(m.p_a or 0.0, m.human) for m in select(members, indices)])

        out.append(
            LengthBin(
                low=difference(members[0]),
                high=difference(members[-1]),
                accuracy_order_averaged=estimate(accuracy, len(members), resamples, seed + seat),
            )
        )
    return out


def pairwise_report(
    judge_label: str,
    records: Sequence[PairRecord],
    annotator_agreement: float | None = None,
    resamples: int = 1000,
    seed: int = 0,
    length_bins: int = 4,
) -> PairwiseReport:
    n = len(records)
    headline = {name: estimate(stat, n, resamples, seed) for name, stat in pairwise_statistics(records).items()}
    human_longer, judge_longer = _longer_rates(records)
    headline["verbosity_bias"] = paired_statistic_difference(human_longer, judge_longer, n, resamples, seed)
    reasons = Counter((r.unscored_reason or "")[:120] for r in records if not r.scored)
    return PairwiseReport(
        judge=judge_label,
        n_pairs=n,
        n_scored=sum(r.scored for r in records),
        unscored_reasons=dict(reasons),
        human_labels=dict(Counter(r.human for r in records)),
        headline=headline,
        human_longer_rate=estimate(human_longer, n, resamples, seed),
        judge_longer_rate=estimate(judge_longer, n, resamples, seed),
        length_bins=_length_bins(records, length_bins, resamples, seed),
        annotator_agreement=annotator_agreement,
    )


def compare_pairwise(
    first: Sequence[PairRecord], second: Sequence[PairRecord], resamples: int = 1000, seed: int = 0
) -> dict[str, Estimate]:
    """second minus first for each headline figure, with paired bootstrap intervals (same pairs)."""
    a, b = pairwise_statistics(first), pairwise_statistics(second)
    return {name: paired_statistic_difference(a[name], b[name], len(first), resamples, seed) for name in a}


def run_pairwise(
    judge: PairwiseJudge, pairs: Sequence[LabelledPair], progress: Callable[[PairVerdict], None] | None = None
) -> list[PairRecord]:
    verdicts = judge.judge([item.pair for item in pairs], progress)
    return pair_records(pairs, verdicts)


def mean_annotator_agreement(pairs: Sequence[LabelledPair]) -> float | None:
    values = [a for a in (p.annotator_agreement for p in pairs) if a is not None]
    return float(np.mean(values)) if values else None


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
