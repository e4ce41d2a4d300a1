"""Which way the reward pushes a behaviour that a program check measures, per kind of row.

GRPO compares the replies of one prompt. A group whose replies all pass, or all fail, a check gets advantages that
only rank what the check does not see (wording, length); only a group whose replies differ on the check pushes the
policy toward passing it or away. With group-scaled advantages ``a_i = (r_i - mean) / std`` (TRL's default
``scale_rewards``) and check values ``c_i``, the group's push toward passing is ``sum_i a_i * c_i``: for a check
that k of n replies pass, k (n - k) / n times the gap between the mean advantage of passing and failing replies.

Summed per kind of row (a metadata column such as ``expected: refuse | comply``), two things show up before the
policy moves: a kind whose push is negative (the reward works against the check there), and kinds whose pushes
differ several-fold. The second is how the safety benchmarks drifted toward refusing: the base policy's replies
to harmful requests differed far more often than its replies to benign ones, so in 19 of 21 runs the push toward
refusing harmful requests outweighed the push toward answering benign ones, and the refusing spread to benign
requests (BENCHMARKS.md, "Why safety runs drift toward refusing").
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from judgerl.monitors.signals import CheckValue


def group_push(rewards: Sequence[float], values: Sequence[float]) -> float | None:
    """One group's push toward passing the check (see the module docstring); None when its rewards or its check
    values are all alike (no behaviour signal) or it has fewer than two replies."""
    if len(rewards) < 2 or len(set(values)) < 2:
        return None
    mean = sum(rewards) / len(rewards)
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (len(rewards) - 1))  # torch.std, as TRL computes it
    if std == 0:
        return None
    return sum((r - mean) / std * v for r, v in zip(rewards, values, strict=True))


@dataclass(frozen=True)
class KindSignal:
    """One kind of row's groups over a window: how many, how many differed on the check, their summed push."""

    groups: int
    mixed: int
    push: float


def signal_by_kind(
    rewards: Sequence[float | None],
    values: Sequence[CheckValue],
    groups: Sequence[Hashable],
    kinds: Sequence[str | None],
) -> dict[str, KindSignal]:
    """Per kind, the groups (replies with a reward and a check value; a group takes its first reply's kind) and
    the summed push of the mixed ones. Rows without a kind, unscored replies and n/a check values are left out."""
    members: dict[Hashable, tuple[str, list[float], list[float]]] = {}
    for reward, value, group, kind in zip(rewards, values, groups, kinds, strict=True):
        if kind is None or reward is None or value is None or not math.isfinite(reward):
            continue
        entry = members.setdefault(group, (kind, [], []))
        entry[1].append(float(reward))
        entry[2].append(float(value))
    counts: dict[str, list[float]] = {}
    for kind, group_rewards, group_values in members.values():
        tally = counts.setdefault(kind, [0, 0, 0.0])
        tally[0] += 1
        push = group_push(group_rewards, group_values)
        if push is not None:
            tally[1] += 1
            tally[2] += push
    return {kind: KindSignal(int(g), int(m), p) for kind, (g, m, p) in counts.items()}


def pooled(windows: Sequence[dict[str, KindSignal]]) -> dict[str, KindSignal]:
    """Several steps' signals summed per kind."""
    out: dict[str, KindSignal] = {}
    for window in windows:
        for kind, signal in window.items():
            was = out.get(kind, KindSignal(0, 0, 0.0))
            out[kind] = KindSignal(was.groups + signal.groups, was.mixed + signal.mixed, was.push + signal.push)
    return out
