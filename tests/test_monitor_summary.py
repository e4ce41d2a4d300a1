"""What the live monitors found, said at the end of ``judgerl train`` and ``make demo``: read back from the
verdict store, the same figures the monitor computed and the warnings in the order they fired."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from judgerl.monitors import HackingMonitor, MonitorConfig
from judgerl.monitors.summary import monitor_lines
from judgerl.store import RunRecorder
from support.monitor_runs import record_signal_run


def test_the_lines_give_the_stored_push_per_kind_and_each_warning(tmp_path: Path) -> None:
    metrics = record_signal_run(tmp_path / "v.sqlite")
    push = metrics["monitor/signal/behaves/refuse"]
    harmful = [0.6, 0.58, 0.4, 0.35]
    advantage = [(r - statistics.fmean(harmful)) / statistics.stdev(harmful) for r in harmful]
    assert push == pytest.approx(5 * (advantage[0] + advantage[1]))  # five mixed groups: the passing replies' share
    lines = monitor_lines(tmp_path / "v.sqlite", "run")
    assert lines[0] == (
        f"reward's push toward passing check 'behaves' by kind of row (at step 4): comply +0.00, 0% of its groups "
        f"differ on it; refuse {push:+.2f}, 100% of its groups differ on it"
    )
    assert len(lines) == 2
    assert lines[1].startswith("monitor warning at step 2 (signal_balance:behaves): over the last 3 steps")


def test_a_run_without_monitor_events_has_no_lines_and_a_quiet_one_says_none(tmp_path: Path) -> None:
    recorder = RunRecorder.open(tmp_path / "v.sqlite")
    quiet = HackingMonitor(MonitorConfig()).observe_values(1, lengths=[1.0, 2.0], rewards=[0.5, 0.7])
    recorder.record_monitor("quiet", 1, quiet)
    recorder.run("silent")
    recorder.close()
    assert monitor_lines(tmp_path / "v.sqlite", "silent") == []
    assert monitor_lines(tmp_path / "v.sqlite", "quiet") == ["monitor warnings: none"]
