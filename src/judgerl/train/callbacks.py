"""Trainer callbacks: every logged metric to ``metrics.jsonl`` in the run folder (what the report reads, whatever
``report_to`` says), and a progress line per step for people watching a CPU run."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsFileCallback(TrainerCallback):
    """Appends ``{"step": N, ...metrics}`` per log call; on resume, lines past the checkpoint are dropped first."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if int(json.loads(line).get("step", 0)) <= step:
                    kept.append(line)
            except (ValueError, AttributeError):
                continue
        self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, "time": time.time(), **{k: _clean(v) for k, v in logs.items()}}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


class ProgressCallback(TrainerCallback):
    """One INFO line per logged step: reward, judge wait and the weakest criterion."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs or "reward" not in logs:
            return
        rates = {
            k.split("/")[1]: v
            for k, v in logs.items()
            if k.startswith("criteria/") and k.endswith("/pass_rate") and v is not None
        }
        weakest = min(rates.items(), key=lambda item: item[1]) if rates else None
        logger.info(
            "step %d/%d reward %.3f (std %.3f) unscored %.0f%% judge wait %.1fs of %.1fs%s",
            state.global_step,
            state.max_steps,
            logs.get("reward") or 0.0,
            logs.get("reward_std") or 0.0,
            100 * (logs.get("judge/unscored_frac") or 0.0),
            logs.get("judge/wait_s") or 0.0,
            logs.get("step_time") or 0.0,
            f"; weakest {weakest[0]} {weakest[1]:.0%}" if weakest else "",
        )
