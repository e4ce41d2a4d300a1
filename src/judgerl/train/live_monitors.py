"""The reward-hacking monitors, live in ``judgerl train`` (the config's ``monitors`` section).

What runs when:

- every generation batch, as its verdicts are stored (``MonitoredSink.record_samples``, on the main process):
  ``HackingMonitor.observe`` with the batch's rewards, response lengths (characters) and the reward checks'
  values: length-reward correlation within GRPO groups, the judge's divergence from each check, verdict
  collapse; a preference run's pairs feed the pairwise length monitor (``record_pairs``);
- before step 1 and after every ``anchor_every``-th step (``MonitorCallback``): the anchor set re-judged with the
  run's judge (verdict cache off, so a drifting judge shows), stored as ``source='anchor'`` samples;
- every warning: logged (``judgerl.monitors``, WARNING, with its step), stored as an event of the step it fired
  at (the report lists it there), and with ``stop_on_warning`` the run stops at the end of that step: the trainer
  saves a checkpoint, ``train()`` saves ``final/`` as usual, and the store and ``train_summary.json`` record
  the stop with its reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transformers import TrainerCallback

from judgerl.monitors import HackingMonitor, MonitorResult, MonitorWarning
from judgerl.monitors.anchors import MASTER_KEY_PREFIX, AnchorSample
from judgerl.samples import PairSample, Sample
from judgerl.store import RunRecorder
from judgerl.train.collective import Collective
from judgerl.train.config import MonitorSettings
from judgerl.train.rubrics import RubricJudges, judge_in_groups
from judgerl.train.verdict_log import CheckRow, VerdictSink, close_sink, discard_after, finish_run, record_pairs
from judgerl.verdicts import PairVerdict, SampleVerdict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stop:
    """Why a run stopped early."""

    step: int
    monitor: str
    reason: str


class LiveMonitor:
    """One run's HackingMonitor: fed by the sink, asked by the callback; records what it finds in the store."""

    def __init__(
        self,
        settings: MonitorSettings,
        *,
        run_id: str,
        sink: VerdictSink,
        anchors: Sequence[AnchorSample] = (),
        anchor_judges: RubricJudges | None = None,
    ) -> None:
        if anchors and anchor_judges is None:
            raise ValueError("an anchor set needs a judge to re-judge it")
        self.settings = settings
        self.run_id = run_id
        self.sink = sink
        self.monitor = HackingMonitor(settings.thresholds(), anchors=anchors)
        self.anchor_judges = anchor_judges
        self.warnings: list[MonitorWarning] = []
        self._lock = threading.Lock()  # the sink is called from TRL's reward thread, the callback from the main one

    def _record(self, step: int, result: MonitorResult) -> None:
        with self._lock:
            self.warnings += result.warnings
        method = getattr(self.sink, "record_monitor", None)
        if method is not None:
            method(self.run_id, step, result)

    def observe(
        self,
        step: int,
        samples: Sequence[Sample],
        verdicts: Sequence[SampleVerdict],
        rewards: Sequence[float | None] | None,
        checks: Sequence[CheckRow] | None,
    ) -> None:
        self._record(step, self.monitor.observe(step, samples, verdicts, rewards=rewards, checks=checks))

    def observe_pairs(self, step: int, pairs: Sequence[PairSample], verdicts: Sequence[PairVerdict]) -> None:
        self._record(step, self.monitor.observe_pairs(step, pairs, verdicts))

    def check_anchors(self, step: int, *, first: bool = False, store: bool = True) -> None:
        """Re-judge the anchor set when due (``first``: the baseline, whatever the step); ``store: False`` keeps
        the verdicts out of the store (a resumed run's baseline: that step's anchors are stored already)."""
        if not self.monitor.anchors or not (first or step % self.monitor.config.anchor_every == 0):
            return
        assert self.anchor_judges is not None
        verdicts, result = self.monitor.check_anchors(step, lambda anchors: judge_samples(self.anchor_judges, anchors))
        keys = [v.score for v in verdicts if v.id.startswith(MASTER_KEY_PREFIX) and v.score is not None]
        if keys:  # how much the judge gives a reply that says nothing
            result.metrics["monitor/anchor_master_key_score"] = sum(keys) / len(keys)
        if store and isinstance(self.sink, RunRecorder):
            self.sink.record_samples(self.run_id, step, self.monitor.anchors, verdicts, source="anchor")
        self._record(step, result)
        logger.info(
            "step %d: anchor set re-judged (%d responses): %s",
            step,
            len(verdicts),
            ", ".join(f"{k.removeprefix('monitor/')} {v:.2f}" for k, v in sorted(result.metrics.items())) or "-",
        )

    def first_warning(self) -> MonitorWarning | None:
        with self._lock:
            return self.warnings[0] if self.warnings else None

    def record_stop(self, stop: Stop) -> None:
        method = getattr(self.sink, "record_stop", None)
        if method is not None:
            method(self.run_id, stop.step, f"monitor:{stop.monitor}", stop.reason)


def judge_samples(judges: RubricJudges | None, samples: Sequence[Sample]) -> list[SampleVerdict]:
    """Each sample judged by its own rubric's judge (the run's rubric plus its row criteria), in order."""
    assert judges is not None
    return judge_in_groups(samples, judges.for_sample)


class MonitoredSink:
    """The run's verdict sink, with the live monitor fed from the training verdicts that pass through it."""

    def __init__(self, inner: VerdictSink, live: LiveMonitor) -> None:
        self.inner = inner
        self.live = live

    def record_samples(
        self,
        run_id: str,
        step: int,
        samples: Sequence[Sample],
        verdicts: Sequence[SampleVerdict],
        *,
        rewards: Sequence[float | None] | None = None,
        checks: Sequence[Mapping[str, float | bool | None]] | None = None,
    ) -> None:
        self.inner.record_samples(run_id, step, samples, verdicts, rewards=rewards, checks=checks)
        if run_id == self.live.run_id:  # evaluation batches ('<run>/eval') are not training
            self.live.observe(step, samples, verdicts, rewards, checks)

    def record_pairs(
        self, run_id: str, step: int, pairs: Sequence[PairSample], verdicts: Sequence[PairVerdict]
    ) -> None:
        record_pairs(self.inner, run_id, step, pairs, verdicts)
        if run_id == self.live.run_id:
            self.live.observe_pairs(step, pairs, verdicts)

    def discard_after(self, run_id: str, step: int) -> int:
        return discard_after(self.inner, run_id, step)

    def finish_run(self, run_id: str) -> None:
        finish_run(self.inner, run_id)

    def close(self) -> None:
        close_sink(self.inner)


class MonitorCallback(TrainerCallback):
    """Anchors before step 1 and every ``anchor_every`` steps; with ``stop_on_warning``, stop at the end of the
    step whose batch raised the first warning (every process stops at the same step)."""

    def __init__(self, live: LiveMonitor, collective: Collective) -> None:
        self.live = live
        self.collective = collective
        self.stop: Stop | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            step = int(state.global_step)
            self.live.check_anchors(step, first=True, store=step == 0)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = int(state.global_step)
        if state.is_world_process_zero:
            self.live.check_anchors(step)
        if not self.live.settings.stop_on_warning or self.stop is not None:
            return
        warning = self.live.first_warning()
        found = self.collective.gather([None if warning is None else warning.model_dump()])
        raised = next((MonitorWarning.model_validate(w) for w in found if w is not None), None)
        if raised is None:
            return
        self.stop = Stop(step, raised.monitor, f"step {raised.step}: {raised.monitor}: {raised.message}")
        logger.warning("stopping at step %d (monitors.stop_on_warning): %s", step, self.stop.reason)
        if state.is_world_process_zero:
            self.live.record_stop(self.stop)
        control.should_training_stop = True
        control.should_save = True
