"""Reward-hacking monitors (see ``judgerl.monitors.hacking`` for what each one watches)."""

from __future__ import annotations

from judgerl.monitors.hacking import HackingMonitor, MonitorConfig, MonitorResult, MonitorWarning
from judgerl.monitors.signals import (
    AnchorDrift,
    Divergence,
    anchor_drift,
    check_divergence,
    flat_group_fraction,
    has_groups,
    length_reward_correlation,
    longer_response_win_rate,
    spearman,
    verdict_pattern_diversity,
)

__all__ = [
    "AnchorDrift",
    "Divergence",
    "HackingMonitor",
    "MonitorConfig",
    "MonitorResult",
    "MonitorWarning",
    "anchor_drift",
    "check_divergence",
    "flat_group_fraction",
    "has_groups",
    "length_reward_correlation",
    "longer_response_win_rate",
    "spearman",
    "verdict_pattern_diversity",
]
