"""The hacking monitors' measurements as pure functions (no state, no judge, no trainer)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from judgerl.verdicts import SampleVerdict

CheckValue = float | bool | None


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.arange(len(values), dtype=float)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return np.asarray(sums[inverse] / counts[inverse])


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float | None:
    """Spearman rank correlation; None when fewer than 3 points or either side is constant."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else None


def _group_centered(values: np.ndarray, groups: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Values minus their group's mean, and a mask of the members of groups with two or more members."""
    index: dict[Hashable, int] = {}
    codes = np.array([index.setdefault(g, len(index)) for g in groups], dtype=int)
    counts = np.bincount(codes, minlength=len(index))
    means = np.bincount(codes, weights=values, minlength=len(index)) / np.maximum(counts, 1)
    return values - means[codes], counts[codes] >= 2


def length_reward_correlation(
    lengths: Sequence[float], rewards: Sequence[float | None], groups: Sequence[Hashable] | None = None
) -> float | None:
    """Spearman correlation of length with reward within groups (each reward compared with its group's mean).

    Unscored rewards are dropped. Without groups, or when no group has two scored members, the samples form
    one group."""
    keep = [i for i, r in enumerate(rewards) if r is not None and math.isfinite(r)]
    length = np.asarray([lengths[i] for i in keep], dtype=float)
    reward = np.asarray([rewards[i] for i in keep], dtype=float)
    if groups is not None:
        kept_groups = [groups[i] for i in keep]
        centered_length, in_group = _group_centered(length, kept_groups)
        if in_group.any():
            centered_reward, _ = _group_centered(reward, kept_groups)
            return spearman(centered_length[in_group], centered_reward[in_group])
    return spearman(length, reward)


def has_groups(groups: Sequence[Hashable]) -> bool:
    """Whether any group has two or more members (GRPO groups rather than one response per prompt)."""
    seen: set[Hashable] = set()
    for group in groups:
        if group in seen:
            return True
        seen.add(group)
    return False


@dataclass(frozen=True)
class Divergence:
    mean_abs: float
    agreement: float
    judge_minus_check: float
    n: int


def check_divergence(judge: Sequence[float | None], check: Sequence[CheckValue]) -> Divergence | None:
    """How far the judge's scores sit from an independent check's (both in [0, 1]); None without pairs."""
    pairs = [
        (float(j), float(c))
        for j, c in zip(judge, check, strict=True)
        if j is not None and c is not None and math.isfinite(j) and math.isfinite(float(c))
    ]
    if not pairs:
        return None
    j, c = np.asarray(pairs).T
    return Divergence(
        mean_abs=float(np.abs(j - c).mean()),
        agreement=float(((j >= 0.5) == (c >= 0.5)).mean()),
        judge_minus_check=float((j - c).mean()),
        n=len(pairs),
    )


def flat_group_fraction(
    rewards: Sequence[float | None], groups: Sequence[Hashable], min_std: float = 0.02
) -> float | None:
    """Share of groups (two or more scored members) whose rewards spread less than ``min_std``."""
    by_group: dict[Hashable, list[float]] = {}
    for reward, group in zip(rewards, groups, strict=True):
        if reward is not None and math.isfinite(reward):
            by_group.setdefault(group, []).append(reward)
    spreads = [float(np.std(values)) for values in by_group.values() if len(values) >= 2]
    return sum(s < min_std for s in spreads) / len(spreads) if spreads else None


def verdict_pattern_diversity(patterns: Sequence[tuple[bool | None, ...]]) -> float | None:
    """Distinct per-criterion verdict patterns over the most there could be (1.0: all different)."""
    if not patterns:
        return None
    possible = min(len(patterns), 2 ** max(len(patterns[0]), 1))
    return len(set(patterns)) / possible if possible > 1 else None


def longer_response_win_rate(
    length_a: Sequence[float], length_b: Sequence[float], winners: Sequence[str | None]
) -> tuple[float | None, int]:
    """Pairwise length bias: among decisive pairs whose responses differ in length, the share the longer
    response won, and how many such pairs there were."""
    decisive = [
        (a > b) == (w == "A") for a, b, w in zip(length_a, length_b, winners, strict=True) if w in ("A", "B") and a != b
    ]
    return (sum(decisive) / len(decisive) if decisive else None), len(decisive)


@dataclass(frozen=True)
class AnchorDrift:
    flip_rate: float | None
    separation: float | None
    unscored_fraction: float
    n: int


def anchor_drift(
    baseline: Mapping[str, SampleVerdict], current: Sequence[SampleVerdict], expected: Mapping[str, str]
) -> AnchorDrift:
    """Compare re-judged anchors with their first evaluation: share of criterion verdicts that flipped, and
    mean score of good anchors minus mean score of bad ones."""
    flips = compared = 0
    for verdict in current:
        before = {c.name: c.passed for c in baseline[verdict.id].criteria} if verdict.id in baseline else {}
        for criterion in verdict.criteria:
            if criterion.passed is not None and before.get(criterion.name) is not None:
                compared += 1
                flips += criterion.passed != before[criterion.name]
    good = [v.score for v in current if v.score is not None and expected.get(v.id) == "good"]
    bad = [v.score for v in current if v.score is not None and expected.get(v.id) == "bad"]
    return AnchorDrift(
        flip_rate=flips / compared if compared else None,
        separation=float(np.mean(good) - np.mean(bad)) if good and bad else None,
        unscored_fraction=sum(v.score is None for v in current) / len(current) if current else 0.0,
        n=len(current),
    )
