"""The statistics of held-out evaluation and judge validation, in one place.

Proportions with Wilson intervals, agreement (accuracy, balanced accuracy, Cohen's kappa, confusion), ranking
(AUC), calibration (reliability, ECE), McNemar, and one percentile-bootstrap engine (``bootstrap_interval``) behind
every interval: single figures (``estimate``), paired differences of statistics (``paired_statistic_difference``)
and of means (``paired_difference``), and the AUC of the judge gate (``auc_estimate``).

Every statistic returns None where it is undefined (no items, one class only, a constant rater) rather than a
made-up 0 or 0.5, so a report never shows a number that was not measured. In particular a balanced accuracy needs
both classes among the labels: with one absent it is None.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

#: statistic over a resample: item indices -> value (None where undefined on that resample)
Statistic = Callable[[np.ndarray], float | None]
T = TypeVar("T")


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.value:.1%} [{self.low:.1%}, {self.high:.1%}] (n={self.n})"


def wilson(successes: int, n: int, z: float = 1.96) -> Interval:
    """Wilson score interval for a proportion (95% by default)."""
    if n == 0:
        return Interval(float("nan"), 0.0, 1.0, 0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(p, max(0.0, centre - margin), min(1.0, centre + margin), n)


def mcnemar_exact(before: Sequence[bool], after: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value: do the pairs that changed move one way more than chance?"""
    gained = sum(1 for b, a in zip(before, after, strict=True) if a and not b)
    lost = sum(1 for b, a in zip(before, after, strict=True) if b and not a)
    return mcnemar_exact_counts(gained, lost)


def mcnemar_exact_counts(gained: int, lost: int) -> float:
    """:func:`mcnemar_exact` from the counts of pairs that changed each way."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(gained, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


@cache
def _fewest_gains_to_pass(changed: int, alpha: float) -> int | None:
    """Of ``changed`` pairs that changed, the fewest gains for McNemar's p < alpha with more gained than lost."""
    for gained in range(changed // 2 + 1, changed + 1):
        if mcnemar_exact_counts(gained, changed - gained) < alpha:
            return gained
    return None


def binomial_pmf(k: int, n: int, p: float) -> float:
    """P(X = k) for X ~ Binomial(n, p)."""
    return math.comb(n, k) * p**k * (1 - p) ** (n - k)


def mcnemar_power(gained_rate: float, lost_rate: float, n: int, alpha: float = 0.05) -> float:
    """The chance that McNemar's exact test finds a gain (p < alpha, more pairs gained than lost) on ``n`` pairs, each
    gaining with probability ``gained_rate`` and losing with ``lost_rate``. Exact: the changed count is binomial, and
    the gains among them binomial given it."""
    changed_rate = gained_rate + lost_rate
    if changed_rate <= 0:
        return 0.0
    up = gained_rate / changed_rate
    total = 0.0
    for changed in range(n + 1):
        weight = binomial_pmf(changed, n, changed_rate)
        need = _fewest_gains_to_pass(changed, alpha)
        if weight < 1e-15 or need is None:
            continue
        total += weight * sum(binomial_pmf(gained, changed, up) for gained in range(need, changed + 1))
    return total


def detectable_change(
    n: int, changed_share: float, power: float = 0.8, alpha: float = 0.05, step: float = 0.005
) -> float | None:
    """The smallest true gain (gained minus lost, a share of ``n``; in steps of ``step``) that McNemar's test finds
    with probability ``power`` on ``n`` pairs of which ``changed_share`` change: what a "not significant" could have
    seen. None where no gain up to the changed share itself reaches that power (too few pairs change)."""
    gain = step
    while gain <= changed_share + 1e-9:
        if mcnemar_power((changed_share + gain) / 2, (changed_share - gain) / 2, n, alpha) >= power:
            return round(gain, 6)
        gain += step
    return None


class Estimate(BaseModel):
    """A measured figure with its 95% bootstrap interval (None where too few resamples were defined)."""

    model_config = ConfigDict(frozen=True)

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0

    def __str__(self) -> str:
        if self.value is None:
            return f"n/a (n={self.n})"
        if self.low is None or self.high is None:
            return f"{self.value:.3f} (n={self.n})"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


class Confusion(BaseModel):
    """Judge verdict (predicted) against the human label (true); PASS is the positive class."""

    model_config = ConfigDict(frozen=True)

    true_pass_judged_pass: int = 0
    true_pass_judged_fail: int = 0
    true_fail_judged_pass: int = 0
    true_fail_judged_fail: int = 0


class ReliabilityBin(BaseModel):
    model_config = ConfigDict(frozen=True)

    low: float
    high: float
    count: int
    mean_p_pass: float | None
    pass_rate: float | None


# ---- point statistics ------------------------------------------------------------------------------------


def accuracy(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> float | None:
    if not truth:
        return None
    return sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)


def cohen_kappa(rater_a: Sequence[Hashable], rater_b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa over any categories: (p_observed - p_chance) / (1 - p_chance); None when chance
    agreement is 1 (both raters constant on the same category), where kappa is undefined."""
    n = len(rater_a)
    if n == 0 or n != len(rater_b):
        return None
    observed = sum(a == b for a, b in zip(rater_a, rater_b, strict=True)) / n
    counts_a, counts_b = Counter(rater_a), Counter(rater_b)
    chance = sum(counts_a[c] * counts_b[c] for c in counts_a) / (n * n)
    if math.isclose(chance, 1.0):
        return None
    return (observed - chance) / (1 - chance)


def confusion(predicted: Sequence[bool], truth: Sequence[bool]) -> Confusion:
    counts = Counter(zip(truth, predicted, strict=True))
    return Confusion(
        true_pass_judged_pass=counts[(True, True)],
        true_pass_judged_fail=counts[(True, False)],
        true_fail_judged_pass=counts[(False, True)],
        true_fail_judged_fail=counts[(False, False)],
    )


def balanced_accuracy(predicted: Sequence[bool], truth: Sequence[bool]) -> float | None:
    """Mean of the recall of PASS and the recall of FAIL.

    Undefined (None) when either class is absent from ``truth`` (or there are no items): the recall of a
    missing class does not exist, and the recall of the one present class alone is not a balanced accuracy."""
    recalls = []
    for cls in (True, False):
        judged = [p for p, t in zip(predicted, truth, strict=True) if t is cls]
        if not judged:
            return None
        recalls.append(sum(p is cls for p in judged) / len(judged))
    return sum(recalls) / len(recalls)


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """P(a random positive scores above a random negative), ties counting half; None without both classes."""
    if len(positives) == 0 or len(negatives) == 0:
        return None
    pos, neg = np.asarray(positives, dtype=float)[:, None], np.asarray(negatives, dtype=float)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def roc_auc(scores: Sequence[float], truth: Sequence[bool]) -> float | None:
    """Probability that a random PASS item scores above a random FAIL item (ties count half)."""
    return auc(
        [s for s, t in zip(scores, truth, strict=True) if t], [s for s, t in zip(scores, truth, strict=True) if not t]
    )


def _bin_index(p: float, bins: int) -> int:
    return min(int(p * bins), bins - 1)


def reliability(probabilities: Sequence[float], truth: Sequence[bool], bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width bins of p_pass: the mean p_pass in each bin against the share of true PASS."""
    members: list[list[int]] = [[] for _ in range(bins)]
    for index, p in enumerate(probabilities):
        members[_bin_index(p, bins)].append(index)
    out = []
    for b, indices in enumerate(members):
        mean_p = float(np.mean([probabilities[i] for i in indices])) if indices else None
        rate = float(np.mean([truth[i] for i in indices])) if indices else None
        out.append(
            ReliabilityBin(low=b / bins, high=(b + 1) / bins, count=len(indices), mean_p_pass=mean_p, pass_rate=rate)
        )
    return out


def expected_calibration_error(probabilities: Sequence[float], truth: Sequence[bool], bins: int = 10) -> float | None:
    """ECE of p_pass as the probability of PASS: sum over equal-width bins of
    (bin size / n) * |share of true PASS - mean p_pass|."""
    n = len(probabilities)
    if n == 0:
        return None
    total = 0.0
    for entry in reliability(probabilities, truth, bins):
        if entry.count:
            assert entry.mean_p_pass is not None and entry.pass_rate is not None
            total += entry.count / n * abs(entry.pass_rate - entry.mean_p_pass)
    return total


def shift_to_threshold(p: float, threshold: float) -> float:
    """Re-centre a probability so that ``threshold`` maps to 0.5: sigmoid(logit(p) - logit(threshold)).

    For two labels this is exactly contextual calibration's p/t : (1-p)/(1-t) renormalised, and it keeps the
    order of scores, so hard verdicts at 0.5 after the shift equal hard verdicts at ``threshold`` before."""
    eps = 1e-6
    p, t = min(max(p, eps), 1 - eps), min(max(threshold, eps), 1 - eps)
    logit = math.log(p / (1 - p)) - math.log(t / (1 - t))
    return 1 / (1 + math.exp(-logit))


# ---- bootstrap -------------------------------------------------------------------------------------------


def bootstrap_interval(
    statistic: Statistic,
    n_items: int,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    min_defined: float = 0.5,
) -> tuple[float | None, float | None]:
    """Percentile interval of ``statistic`` over resamples of item indices (with replacement).

    Resamples where the statistic is undefined are skipped; with none defined, or fewer than the share
    ``min_defined`` of them (half by default), no interval."""
    if n_items == 0 or resamples <= 0:
        return None, None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        value = statistic(rng.integers(0, n_items, n_items))
        if value is not None and math.isfinite(value):
            values.append(value)
    if not values or len(values) < resamples * min_defined:
        return None, None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def estimate(
    statistic: Statistic, n_items: int, resamples: int = 1000, seed: int = 0, min_defined: float = 0.5
) -> Estimate:
    """The statistic on all items, with its bootstrap interval."""
    value = statistic(np.arange(n_items)) if n_items else None
    if value is None:
        return Estimate(value=None, n=n_items)
    low, high = bootstrap_interval(statistic, n_items, resamples, seed, min_defined=min_defined)
    return Estimate(value=float(value), low=low, high=high, n=n_items)


def paired_statistic_difference(
    first: Statistic, second: Statistic, n_items: int, resamples: int = 1000, seed: int = 0
) -> Estimate:
    """second - first on the same items, with a paired bootstrap interval (both on each resample)."""

    def difference(indices: np.ndarray) -> float | None:
        a, b = first(indices), second(indices)
        return None if a is None or b is None else b - a

    return estimate(difference, n_items, resamples, seed)


def paired_difference(
    before: Sequence[float], after: Sequence[float], resamples: int = 10_000, seed: int = 0
) -> Interval:
    """Mean of (after - before) over paired items with a percentile bootstrap 95% interval."""
    if len(before) != len(after):
        raise ValueError("paired samples must have the same length")
    n = len(before)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    differences = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    low, high = bootstrap_interval(lambda idx: float(differences[idx].mean()), n, resamples, seed)
    assert low is not None and high is not None  # a mean is defined on every resample
    return Interval(float(differences.mean()), low, high, n)


def auc_estimate(scores: Sequence[float], truth: Sequence[bool], resamples: int = 2000, seed: int = 0) -> Estimate:
    """AUC of ``scores`` for ``truth`` with a bootstrap interval over items; resamples that lose a class are
    skipped, and any number of defined ones gives an interval."""
    labels = list(truth)
    return estimate(lambda idx: roc_auc(select(scores, idx), select(labels, idx)), len(scores), resamples, seed, 0.0)


def select(values: Sequence[T], indices: np.ndarray) -> list[T]:
    """The items at ``indices`` (a bootstrap resample), in that order."""
    return [values[i] for i in indices]
