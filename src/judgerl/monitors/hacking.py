"""Reward-hacking monitors: signs that the policy is learning to please the judge rather than do the task.

- **length**: within a GRPO group (or a step), do longer responses get higher rewards? The advantage is
  computed within the group, so a within-group correlation is what teaches "longer is better". Centering per
  group removes the between-step trend, so a policy that gets both longer and better is not flagged.
- **divergence**: the judge's score against independent checks (exact match, unit tests) where configured.
- **anchors**: fixed known-good and known-bad responses re-judged every N steps; verdicts that flip from the
  first evaluation, or good and bad anchors that stop separating, mean the judge has drifted.
- **collapse**: verdict diversity collapses (every group's rewards equal): GRPO then has no signal.
- **pairwise length**: in preference judging, the share of decisive pairs the longer response won.
- **behaviour signal** (``signal_by``: a row metadata column naming kinds of rows): per kind and check, which way
  the reward pushes the check's behaviour inside GRPO groups (``judgerl.monitors.behaviour``); warns when it
  pushes against the check on one kind, or far harder on one kind than another.

Pure functions plus ``HackingMonitor``, fed once per step by any trainer (no TRL import). Warnings are logged
(the training log), returned with the step's metrics (for the trainer's logger) and stored by
``RunRecorder.record_monitor`` (for the report). A firing monitor warns when it starts firing and again
every ``realert_steps`` while it stays on, so the log is not flooded.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from judgerl.monitors.anchors import AnchorSample
from judgerl.monitors.behaviour import KindSignal, pooled, signal_by_kind
from judgerl.monitors.signals import (
    CheckValue,
    anchor_drift,
    check_divergence,
    flat_group_fraction,
    has_groups,
    length_reward_correlation,
    longer_response_win_rate,
    verdict_pattern_diversity,
)
from judgerl.samples import PairSample, Sample, prompt_text
from judgerl.verdicts import PairVerdict, SampleVerdict

logger = logging.getLogger(__name__)


class MonitorConfig(BaseModel):
    """Thresholds of the hacking monitors; the defaults suit GRPO batches of a few dozen responses."""

    model_config = ConfigDict(extra="forbid")

    window_steps: int = Field(default=5, ge=1, description="Steps pooled for the length and divergence monitors.")
    min_samples: int = Field(default=24, ge=3, description="Fewer pooled samples than this: no verdict yet.")
    length_correlation: float = Field(default=0.5, gt=0, le=1, description="Within-group Spearman that warns.")
    divergence: float = Field(default=0.3, gt=0, le=1, description="Mean |judge - check| that warns.")
    check_criteria: dict[str, str] = Field(
        default_factory=dict, description="Check name -> criterion whose P(pass) it is compared with (else score)."
    )
    longer_wins: float = Field(
        default=0.75, gt=0.5, le=1, description="Pairwise: share of decisive pairs won by the longer response."
    )
    anchor_every: int = Field(default=50, ge=1, description="Re-judge the anchor set every this many steps.")
    anchor_flip_rate: float = Field(default=0.1, ge=0, le=1, description="Share of flipped anchor verdicts.")
    anchor_min_separation: float = Field(default=0.3, ge=0, le=1, description="Min mean(good) - mean(bad).")
    collapse_min_std: float = Field(default=0.02, ge=0, description="Reward spread below this counts as none.")
    collapse_group_fraction: float = Field(default=0.9, gt=0, le=1, description="Share of flat groups that warns.")
    collapse_steps: int = Field(default=3, ge=1, description="Consecutive collapsed steps before warning.")
    realert_steps: int = Field(default=25, ge=1, description="Repeat a standing warning this often.")
    signal_by: str | None = Field(
        default=None,
        description="Row metadata column whose values are kinds of rows (e.g. expected): per kind, the push of "
        "each check's behaviour inside GRPO groups (judgerl.monitors.behaviour).",
    )
    signal_steps: int = Field(default=10, ge=1, description="Steps pooled for the behaviour-signal monitor.")
    signal_min_groups: int = Field(
        default=3, ge=1, description="Fewer groups of a kind whose replies differ on the check: no verdict yet."
    )
    signal_ratio: float = Field(default=2.0, gt=1, description="One kind's push this many times another's warns.")


class MonitorWarning(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: int
    monitor: str
    message: str
    value: float | None = None
    threshold: float | None = None


class MonitorResult(BaseModel):
    """One step's monitor metrics (for the trainer's logger) and the warnings raised at that step."""

    step: int
    metrics: dict[str, float] = Field(default_factory=dict)
    warnings: list[MonitorWarning] = Field(default_factory=list)


@dataclass
class _StepData:
    step: int
    lengths: list[float]
    rewards: list[float | None]
    groups: list[Hashable]
    judge: dict[str, list[float | None]]
    checks: dict[str, list[CheckValue]]


class _Alarm:
    """Warn when a monitor starts firing and every ``every`` steps while it stays on."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.last: int | None = None

    def update(self, firing: bool, step: int) -> bool:
        if not firing:
            self.last = None
            return False
        if self.last is None or step - self.last >= self.every:
            self.last = step
            return True
        return False


class HackingMonitor:
    """Feed it each step's samples and verdicts; it returns metrics and warnings. See the module docstring."""

    def __init__(self, config: MonitorConfig | None = None, anchors: Sequence[AnchorSample] = ()) -> None:
        self.config = config or MonitorConfig()
        self.anchors = list(anchors)
        self._history: deque[_StepData] = deque(maxlen=self.config.window_steps)
        self._alarms: dict[str, _Alarm] = {}
        self._collapsed_steps = 0
        self._anchor_baseline: dict[str, SampleVerdict] | None = None
        self._pair_history: deque[tuple[list[float], list[float], list[str | None]]] = deque(
            maxlen=self.config.window_steps
        )
        self._signals: deque[dict[str, dict[str, KindSignal]]] = deque(maxlen=self.config.signal_steps)

    # ---- per step ------------------------------------------------------------------------------------

    def observe(
        self,
        step: int,
        samples: Sequence[Sample],
        verdicts: Sequence[SampleVerdict],
        *,
        rewards: Sequence[float | None] | None = None,
        lengths: Sequence[float] | None = None,
        checks: Sequence[Mapping[str, CheckValue]] | None = None,
    ) -> MonitorResult:
        """One training step. ``rewards`` default to the verdicts' scores, ``lengths`` to response characters
        (pass the policy's token counts when you have them); ``checks``: per sample, check name -> [0, 1]."""
        judge: dict[str, list[float | None]] = {"score": [v.score for v in verdicts]}
        for criterion in set(self.config.check_criteria.values()):
            judge[criterion] = [_p_pass(v, criterion) for v in verdicts]
        check_columns: dict[str, list[CheckValue]] = {}
        for index, row in enumerate(checks or []):
            for name, value in row.items():
                check_columns.setdefault(name, [None] * len(samples))[index] = value
        column = self.config.signal_by
        return self.observe_values(
            step,
            lengths=list(lengths) if lengths is not None else [len(s.response) for s in samples],
            rewards=list(rewards) if rewards is not None else [v.score for v in verdicts],
            groups=[prompt_text(s.prompt) for s in samples],
            judge=judge,
            checks=check_columns,
            patterns=[tuple(c.passed for c in v.criteria) for v in verdicts],
            kinds=None if column is None else [_kind(s.metadata.get(column)) for s in samples],
        )

    def observe_values(
        self,
        step: int,
        *,
        lengths: Sequence[float],
        rewards: Sequence[float | None],
        groups: Sequence[Hashable] | None = None,
        judge: Mapping[str, Sequence[float | None]] | None = None,
        checks: Mapping[str, Sequence[CheckValue]] | None = None,
        patterns: Sequence[tuple[bool | None, ...]] = (),
        kinds: Sequence[str | None] | None = None,
    ) -> MonitorResult:
        """The same from plain columns, for trainers that do not hold Sample objects (``kinds``: each sample's
        value of the ``signal_by`` column)."""
        # A GRPO group is one prompt within one step; with one response per prompt, the step is the group.
        group_keys: list[Hashable] = [(step, g) for g in groups] if groups is not None else [step] * len(lengths)
        if not has_groups(group_keys):
            group_keys = [step] * len(lengths)
        self._history.append(
            _StepData(
                step,
                list(lengths),
                list(rewards),
                group_keys,
                {k: list(v) for k, v in (judge or {"score": rewards}).items()},
                {k: list(v) for k, v in (checks or {}).items()},
            )
        )
        result = MonitorResult(step=step)
        self._length(result)
        self._divergence(result)
        self._collapse(result, rewards, group_keys, patterns)
        if kinds is not None and checks:
            self._signals.append(
                {name: signal_by_kind(rewards, values, group_keys, kinds) for name, values in checks.items()}
            )
            self._signal(result)
        return result

    def _warn(
        self, result: MonitorResult, monitor: str, firing: bool, message: str, value: float | None, limit: float
    ) -> None:
        if self._alarms.setdefault(monitor, _Alarm(self.config.realert_steps)).update(firing, result.step):
            warning = MonitorWarning(step=result.step, monitor=monitor, message=message, value=value, threshold=limit)
            logger.warning("step %d: reward-hacking monitor '%s': %s", result.step, monitor, message)
            result.warnings.append(warning)

    def _pooled(self) -> _StepData:
        pooled = _StepData(self._history[-1].step, [], [], [], {}, {})
        for data in self._history:
            pooled.lengths += data.lengths
            pooled.rewards += data.rewards
            pooled.groups += data.groups
            for name, values in data.judge.items():
                pooled.judge.setdefault(name, []).extend(values)
            for name, values in data.checks.items():
                pooled.checks.setdefault(name, []).extend(values)
        return pooled

    def _length(self, result: MonitorResult) -> None:
        pooled = self._pooled()
        scored = sum(r is not None for r in pooled.rewards)
        rho = length_reward_correlation(pooled.lengths, pooled.rewards, pooled.groups)
        if rho is None:
            return
        result.metrics["monitor/length_reward_corr"] = rho
        limit = self.config.length_correlation
        firing = scored >= self.config.min_samples and rho >= limit
        message = (
            f"reward tracks response length (within-group Spearman {rho:.2f} >= {limit:.2f} over the last "
            f"{len(self._history)} steps, {scored} responses): the policy may be padding answers to please the judge"
        )
        self._warn(result, "length", firing, message, rho, limit)

    def _divergence(self, result: MonitorResult) -> None:
        pooled = self._pooled()
        for name, values in pooled.checks.items():
            target = self.config.check_criteria.get(name, "score")
            judged = pooled.judge.get(target)
            if judged is None or len(judged) != len(values):
                continue
            stats = check_divergence(judged, values)
            if stats is None:
                continue
            result.metrics[f"monitor/divergence/{name}"] = stats.mean_abs
            result.metrics[f"monitor/agreement/{name}"] = stats.agreement
            limit = self.config.divergence
            firing = stats.n >= self.config.min_samples and stats.mean_abs >= limit
            lean = "more generous" if stats.judge_minus_check > 0 else "harsher"
            message = (
                f"judge {target} diverges from check '{name}': mean |difference| {stats.mean_abs:.2f} >= {limit:.2f}, "
                f"agreement {stats.agreement:.0%} over {stats.n} responses; the judge is {lean} than the check"
            )
            self._warn(result, f"divergence:{name}", firing, message, stats.mean_abs, limit)

    def _collapse(
        self,
        result: MonitorResult,
        rewards: Sequence[float | None],
        groups: Sequence[Hashable],
        patterns: Sequence[tuple[bool | None, ...]],
    ) -> None:
        scored = [r for r in rewards if r is not None and math.isfinite(r)]
        if len(scored) < 2:
            return
        spread = float(np.std(scored))
        result.metrics["monitor/reward_std"] = spread
        flat = flat_group_fraction(rewards, groups, self.config.collapse_min_std)
        diversity = verdict_pattern_diversity(patterns)
        if diversity is not None:
            result.metrics["monitor/verdict_pattern_diversity"] = diversity
        if flat is not None:
            result.metrics["monitor/flat_group_fraction"] = flat
            limit = self.config.collapse_group_fraction
            collapsed, value = flat >= limit, flat
            detail = f"{flat:.0%} of groups have (nearly) equal rewards"
        else:
            limit = self.config.collapse_min_std
            collapsed, value = spread < limit, spread
            detail = f"reward spread {spread:.3f} < {limit:.3f}"
        self._collapsed_steps = self._collapsed_steps + 1 if collapsed else 0
        firing = self._collapsed_steps >= self.config.collapse_steps
        message = (
            f"verdict diversity collapsed for {self._collapsed_steps} steps: {detail}; GRPO advantages vanish "
            "(the task may be solved, too hard, or the judge rubber-stamps)"
        )
        self._warn(result, "collapse", firing, message, value, limit)

    def _signal(self, result: MonitorResult) -> None:
        steps = len(self._signals)
        for check in sorted({name for step in self._signals for name in step}):
            by_kind = pooled([step.get(check, {}) for step in self._signals])
            for kind, signal in by_kind.items():
                result.metrics[f"monitor/signal/{check}/{kind}"] = signal.push
                result.metrics[f"monitor/signal_mixed/{check}/{kind}"] = signal.mixed / max(signal.groups, 1)
            judged = {k: s for k, s in by_kind.items() if s.mixed >= self.config.signal_min_groups}
            against = self._signal_against(result, check, judged, steps)
            self._signal_balance(result, check, judged, by_kind, steps, checked=not against)

    def _signal_against(self, result: MonitorResult, check: str, judged: dict[str, KindSignal], steps: int) -> bool:
        """Warn where, on one kind of row, the reward pushes away from the check; returns whether it fired."""
        worst = min(judged.items(), key=lambda item: item[1].push, default=None)
        firing = worst is not None and worst[1].push < 0
        message = ""
        if worst is not None:
            kind, signal = worst
            message = (
                f"inside GRPO groups the reward favours replies that fail check '{check}' on rows with "
                f"{self.config.signal_by}={kind} (push {signal.push:+.2f} over {signal.mixed} groups whose replies "
                f"differ on it, last {steps} steps): there the reward works against the check"
            )
        self._warn(result, f"signal_against:{check}", firing, message, worst[1].push if worst else 0.0, 0.0)
        return firing

    def _signal_balance(
        self,
        result: MonitorResult,
        check: str,
        judged: dict[str, KindSignal],
        by_kind: dict[str, KindSignal],
        steps: int,
        *,
        checked: bool,
    ) -> None:
        """Warn where one kind's push toward passing the check is ``signal_ratio`` times another's (or the other
        has none): a kind seen in enough groups whose replies rarely differ on the check pushes little."""
        column, limit = self.config.signal_by, self.config.signal_ratio
        seen = {k: s for k, s in by_kind.items() if s.groups >= self.config.signal_min_groups}
        firing, ratio, message = False, 1.0, ""
        if checked and judged and len(seen) >= 2:
            strong_kind, strong = max(judged.items(), key=lambda item: item[1].push)
            weak_kind, weak = min(seen.items(), key=lambda item: item[1].push)
            ratio = strong.push / weak.push if weak.push > 0 else math.inf
            firing = strong_kind != weak_kind and strong.push > 0 and ratio >= limit
            times = "" if math.isinf(ratio) else f" ({ratio:.1f}x)"
            message = (
                f"over the last {steps} steps the reward pushed toward passing check '{check}' far harder on rows "
                f"with {column}={strong_kind} ({strong.mixed} of {strong.groups} groups differ on it, push "
                f"{strong.push:+.2f}) than on {column}={weak_kind} ({weak.mixed} of {weak.groups}, push "
                f"{weak.push:+.2f}){times}: where the kinds ask for opposite behaviour, the policy drifts toward what "
                f"{column}={strong_kind} asks; more rows of {column}={weak_kind} in each batch balance the signal, "
                "though in judgerl's safety benchmarks that alone did not stop the drift (docs/training.md)"
            )
        value = ratio if math.isfinite(ratio) else None  # the other kind pushed none: no finite ratio to store
        self._warn(result, f"signal_balance:{check}", firing, message, value, limit)

    # ---- pairwise ------------------------------------------------------------------------------------

    def observe_pairs(self, step: int, pairs: Sequence[PairSample], verdicts: Sequence[PairVerdict]) -> MonitorResult:
        """A pairwise step: does the judge prefer the longer response, and how order-consistent is it?"""
        return self.observe_pair_values(
            step,
            length_a=[len(p.response_a) for p in pairs],
            length_b=[len(p.response_b) for p in pairs],
            winners=[v.winner for v in verdicts],
            consistent=[v.consistent for v in verdicts],
        )

    def observe_pair_values(
        self,
        step: int,
        *,
        length_a: Sequence[float],
        length_b: Sequence[float],
        winners: Sequence[str | None],
        consistent: Sequence[bool | None],
    ) -> MonitorResult:
        self._pair_history.append((list(length_a), list(length_b), list(winners)))
        result = MonitorResult(step=step)
        judged = [c for c in consistent if c is not None]
        if judged:
            result.metrics["monitor/position_consistency"] = sum(judged) / len(judged)
        pooled_a = [length for a, _, _ in self._pair_history for length in a]
        pooled_b = [length for _, b, _ in self._pair_history for length in b]
        pooled_winners = [winner for _, _, w in self._pair_history for winner in w]
        rate, n = longer_response_win_rate(pooled_a, pooled_b, pooled_winners)
        if rate is not None:
            result.metrics["monitor/longer_wins"] = rate
            limit = self.config.longer_wins
            message = (
                f"the judge prefers the longer response: it won {rate:.0%} of {n} decisive pairs over the last "
                f"{len(self._pair_history)} steps (limit {limit:.0%}); the policy may learn verbosity"
            )
            self._warn(result, "length", n >= self.config.min_samples and rate >= limit, message, rate, limit)
        return result

    # ---- anchors -------------------------------------------------------------------------------------

    def anchors_due(self, step: int) -> bool:
        return bool(self.anchors) and (self._anchor_baseline is None or step % self.config.anchor_every == 0)

    def check_anchors(
        self, step: int, judge: Callable[[Sequence[Sample]], list[SampleVerdict]]
    ) -> tuple[list[SampleVerdict], MonitorResult]:
        """Re-judge the anchor set with ``judge`` (e.g. ``RubricJudge(...).judge``) and compare; returns the
        verdicts too, for ``RunRecorder.record_samples(run, step, monitor.anchors, verdicts, source="anchor")``."""
        verdicts = judge(self.anchors)
        return verdicts, self.observe_anchors(step, verdicts)

    def observe_anchors(self, step: int, verdicts: Sequence[SampleVerdict]) -> MonitorResult:
        """The anchor set's verdicts at this step; the first call sets the baseline."""
        result = MonitorResult(step=step)
        expected = {a.id: a.expected for a in self.anchors}
        if self._anchor_baseline is None:
            self._anchor_baseline = {v.id: v for v in verdicts if v.scored}
        drift = anchor_drift(self._anchor_baseline, verdicts, expected)
        result.metrics["monitor/anchor_unscored"] = drift.unscored_fraction
        if drift.flip_rate is not None:
            limit = self.config.anchor_flip_rate
            result.metrics["monitor/anchor_flip_rate"] = drift.flip_rate
            message = (
                f"judge verdicts on the fixed anchor set drifted: {drift.flip_rate:.0%} of criterion verdicts "
                f"flipped since the first evaluation (limit {limit:.0%})"
            )
            self._warn(result, "anchor_drift", drift.flip_rate > limit, message, drift.flip_rate, limit)
        if drift.separation is not None:
            limit = self.config.anchor_min_separation
            result.metrics["monitor/anchor_separation"] = drift.separation
            message = (
                f"the judge no longer separates known-good from known-bad anchors: mean score difference "
                f"{drift.separation:.2f} < {limit:.2f}"
            )
            self._warn(result, "anchor_separation", drift.separation < limit, message, drift.separation, limit)
        return result


def _kind(value: object) -> str | None:
    return None if value is None else str(value)


def _p_pass(verdict: SampleVerdict, criterion: str) -> float | None:
    for c in verdict.criteria:
        if c.name == criterion:
            return c.p_pass if c.p_pass is not None else None if c.passed is None else float(c.passed)
    return None
