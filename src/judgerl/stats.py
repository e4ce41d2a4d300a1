"""Small statistics for before/after comparisons on the same held-out prompts."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


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


def paired_difference(
    before: Sequence[float], after: Sequence[float], resamples: int = 10_000, seed: int = 0
) -> Interval:
    """Mean of (after - before) over paired items with a percentile bootstrap 95% interval."""
    if len(before) != len(after):
        raise ValueError("paired samples must have the same length")
    n = len(before)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    differences = [a - b for a, b in zip(after, before, strict=True)]
    rng = random.Random(seed)
    means = sorted(sum(differences[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return Interval(sum(differences) / n, means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1], n)


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """P(a random positive scores above a random negative), ties counting half; None without both classes."""
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def mcnemar_exact(before: Sequence[bool], after: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value: do the pairs that changed move one way more than chance?"""
    gained = sum(1 for b, a in zip(before, after, strict=True) if a and not b)
    lost = sum(1 for b, a in zip(before, after, strict=True) if b and not a)
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(gained, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)
