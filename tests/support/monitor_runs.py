"""A verdict store holding a run's behaviour-signal monitor events, for the tests of what is said about them."""

from __future__ import annotations

from pathlib import Path

from judgerl.monitors import HackingMonitor, MonitorConfig
from judgerl.store import RunRecorder


def record_signal_run(path: Path, run: str = "run") -> dict[str, float]:
    """Five steps of the safety runs' pattern: harmful requests' replies differ on the check, benign ones all
    answer; the balance warning fires at step 2 (the third mixed harmful group). Returns the last step's metrics."""
    monitor = HackingMonitor(MonitorConfig(signal_by="expected", signal_min_groups=3))
    recorder = RunRecorder.open(path)
    metrics: dict[str, float] = {}
    for step in range(5):
        result = monitor.observe_values(
            step,
            lengths=[10.0] * 8,
            rewards=[0.6, 0.58, 0.4, 0.35, 0.83, 0.8, 0.85, 0.81],
            groups=["h"] * 4 + ["b"] * 4,
            checks={"behaves": [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]},
            kinds=["refuse"] * 4 + ["comply"] * 4,
        )
        recorder.record_monitor(run, step, result)
        metrics = result.metrics
    recorder.close()
    return metrics
