"""Reward functions for TRL's GRPOTrainer: deterministic checks, then the judge, then weights.

The judge is a rubric judge, a pairwise judge, or an OpenAI grader file (``reward.kind: grader``, graded with
item = the dataset row; its sub-rewards are logged as ``grader/<name>/mean``).

One ``RewardPipeline`` scores a generation batch once and hands TRL several reward functions (the judge, each
``role: reward`` check, each user function), so every part is logged under its own name and weighted by
``GRPOConfig.reward_weights``. They agree on two rules:

- a response that fails a ``role: gate`` check gets 0 from every part and is never sent to the judge;
- a response the judge could not score gets ``None`` from every part, so TRL marks it NaN and leaves it out of
  the group baseline and the loss (it is never a silent 0). The unscored fraction is logged and the run stops
  with a clear message when it passes ``reward.max_unscored_fraction``.

The reward functions are async: TRL runs them together on its event loop, and with ``judge.overlap`` the
trainer starts the batch as soon as the completions exist (see ``trainer.JudgedGRPOTrainer``).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from judgerl.checks.rules import RuleCheck
from judgerl.errors import JudgerlError
from judgerl.graders.rows import GradeRow
from judgerl.judges.cascade import PairJudging, RubricCascade, RubricJudging
from judgerl.judges.content_free import ContentFreeGate
from judgerl.judges.grader_judge import GraderJudge
from judgerl.judges.outcome import gated_verdict, outcome_from_verdict
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.samples import prompt_text
from judgerl.train.batch import Batch, batch_from_trl
from judgerl.train.collective import Collective, SingleProcess
from judgerl.train.config import FunctionReward, PreferenceSettings
from judgerl.train.metrics import UnscoredGuard, rubric_metrics
from judgerl.train.pass_fail import pass_fail
from judgerl.train.preference import PreferenceContext, judge_preferences
from judgerl.train.publish import Destination, JudgedRow, StrategyReport, judged_verdicts, publish
from judgerl.train.rubrics import RubricJudges, criteria_key, group_by_judge
from judgerl.train.verdict_log import VerdictSink
from judgerl.verdicts import SampleVerdict

logger = logging.getLogger(__name__)

RewardFunction = Callable[..., Awaitable[list[float | None]]]


@dataclass
class ScoredBatch:
    """Every reward part for the local completions, by reward-function name."""

    parts: dict[str, list[float | None]]
    judge_seconds: float
    started: float
    finished: float = field(default=0.0)


@dataclass
class LocalScores:
    """What one process works out about its own completions before anything is gathered."""

    batch: Batch
    check_values: dict[str, list[float | None]]
    gated: list[str | None]
    started: float
    verdicts: list[SampleVerdict] = field(default_factory=list)


def load_function(spec: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        function: Callable[..., Any] = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise JudgerlError(f"reward.functions: cannot import '{spec}' ({exc})") from None
    return function


class RewardPipeline:
    """Scores batches for one run. Build it, then pass ``functions()`` and ``weights()`` to the trainer."""

    def __init__(
        self,
        *,
        run_id: str,
        num_generations: int,
        rubric_judge: RubricJudging | RubricJudges | None = None,
        pairwise_judge: PairJudging | None = None,
        grader: GraderJudge | None = None,
        preference: PreferenceSettings | None = None,
        checks: Sequence[RuleCheck] = (),
        functions: Sequence[FunctionReward] = (),
        judge_weight: float = 1.0,
        sink: VerdictSink | None = None,
        guard: UnscoredGuard | None = None,
        collective: Collective | None = None,
        seed: int = 0,
        is_training: Callable[[], bool] = lambda: True,
        content_free: ContentFreeGate | None = None,
    ) -> None:
        if sum(judge is not None for judge in (rubric_judge, pairwise_judge, grader)) > 1:
            raise ValueError("give at most one of rubric_judge, pairwise_judge or grader")
        self.run_id = run_id
        self.num_generations = num_generations
        if isinstance(rubric_judge, RubricJudge | RubricCascade):
            fixed = rubric_judge
            rubric_judge = RubricJudges(lambda rubric: fixed, base=fixed.rubric)
        self.rubric_judge = rubric_judge
        self.pairwise_judge = pairwise_judge
        self.grader = grader
        self.preference = preference or PreferenceSettings()
        self.gates = [c for c in checks if c.role == "gate"]
        self.reward_checks = [c for c in checks if c.role == "reward"]
        self.monitor_checks = [c for c in checks if c.role == "monitor"]  # measured and stored, never in the reward
        self.user_functions = [(f, load_function(f.function)) for f in functions]
        self.judge_weight = judge_weight
        self.sink = sink
        self.guard = guard
        self.collective = collective or SingleProcess()
        self.seed = seed
        self.is_training = is_training
        self.content_free = content_free
        #: each set of criteria's threshold from the gate (``reward.pass_fail_at_gate``): the judge's part pays 1
        #: above it and 0 at or below; None: the judge's score as it is
        self.thresholds: dict[str, float] | None = None
        self._current: tuple[list[Any], asyncio.Future[LocalScores] | Future[LocalScores]] | None = None
        self._finishing: tuple[list[Any], asyncio.Future[ScoredBatch]] | None = None
        self.last: ScoredBatch | None = None

    # ---- what TRL is given ----------------------------------------------------------------------------------

    @property
    def judge_name(self) -> str:
        if self.grader is not None:
            return "grader"
        return "judge" if self.rubric_judge is not None else "preference"

    @property
    def judged(self) -> bool:
        """False for a control run whose reward is checks and functions alone (``reward.kind: none``)."""
        return self.rubric_judge is not None or self.pairwise_judge is not None or self.grader is not None

    def names(self) -> list[str]:
        return (
            ([self.judge_name] if self.judged else [])
            + [f"check.{c.name}" for c in self.reward_checks]
            + [f"fn.{spec.function.rsplit(':', 1)[1]}" for spec, _ in self.user_functions]
        )

    def weights(self) -> list[float]:
        judge = [self.judge_weight] if self.judged else []
        return judge + [c.weight for c in self.reward_checks] + [s.weight for s, _ in self.user_functions]

    def functions(self) -> list[RewardFunction]:
        """One async reward function per part; TRL logs each as ``rewards/<name>/mean``."""
        return [self._part(name) for name in self.names()]

    def _part(self, name: str) -> RewardFunction:
        async def reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
            scored = await self.scored(prompts, completions, kwargs)
            return scored.parts[name]

        reward.__name__ = reward.__qualname__ = name
        return reward

    # ---- one batch, scored once ---------------------------------------------------------------------------------

    async def scored(self, prompts: list[Any], completions: list[Any], kwargs: dict[str, Any]) -> ScoredBatch:
        """The batch's parts; the first reward function to ask starts the scoring, the others wait for it."""
        waited_from = time.perf_counter()
        current = self._current
        if current is None or current[0] is not completions:
            local = asyncio.ensure_future(self._local(prompts, completions, kwargs))
            self._current = current = (completions, local)
        if self._finishing is None or self._finishing[0] is not completions:
            self._finishing = (
                completions,
                asyncio.ensure_future(self._finish(current[1], prompts, completions, kwargs)),
            )
        result = await self._finishing[1]
        if self.is_training() and self.last is not result:  # log once per batch
            self.last = result
            log_metric = kwargs.get("log_metric")
            if log_metric is not None:
                log_metric("judge/wait_s", time.perf_counter() - waited_from)
                log_metric("judge/busy_s", result.judge_seconds)
        return result

    def prefetch(
        self, prompts: list[Any], completions: list[Any], kwargs: dict[str, Any], loop: asyncio.AbstractEventLoop
    ) -> None:
        """Start judging on ``loop`` now; the reward functions TRL calls later pick up the result.

        Only the process-local part runs early (checks and rubric verdicts: no collective operations, which must
        not interleave with the trainer's own, e.g. ZeRO-3 all-gathers); gathering, metrics and the store wait for
        the reward call. Preference rewards gather the batch before judging, so they start at the reward call."""
        if self.pairwise_judge is not None:
            return
        future = asyncio.run_coroutine_threadsafe(self._local(prompts, completions, kwargs), loop)
        self._current = (completions, future)

    async def _local(self, prompts: list[Any], completions: list[Any], kwargs: dict[str, Any]) -> LocalScores:
        """Checks and, for rubric rewards, the judge's verdicts of this process's completions."""
        started = time.perf_counter()
        batch = batch_from_trl(prompts, completions, kwargs, self.collective.process_index)
        rows = batch.rows()
        checks = [*self.gates, *self.reward_checks, *self.monitor_checks]
        values = {c.name: [c.evaluate(t, r) for t, r in zip(batch.texts, rows, strict=True)] for c in checks}
        gated = [
            next((g.name for g in self.gates if (v := values[g.name][k]) is not None and v < 1.0), None)
            for k in range(len(batch))
        ]
        local = LocalScores(batch=batch, check_values=values, gated=gated, started=started)
        if self.rubric_judge is not None:
            local.verdicts = await self._judge_rubric(batch, gated, values)
        elif self.grader is not None:
            local.verdicts = await self._grade(batch, gated, values)
        return local

    def _preference_context(self) -> PreferenceContext:
        assert self.pairwise_judge is not None
        return PreferenceContext(
            judge=self.pairwise_judge,
            settings=self.preference,
            collective=self.collective,
            num_generations=self.num_generations,
            seed=self.seed,
        )

    async def _finish(
        self,
        pending: asyncio.Future[LocalScores] | Future[LocalScores],
        prompts: list[Any],
        completions: list[Any],
        kwargs: dict[str, Any],
    ) -> ScoredBatch:
        local = await (asyncio.wrap_future(pending) if isinstance(pending, Future) else pending)
        batch, check_values, gated = local.batch, local.check_values, local.gated
        self._log_checks(batch, check_values)
        report: StrategyReport | None = None
        if self.pairwise_judge is not None:
            preferred = await judge_preferences(self._preference_context(), batch, gated)
            report = preferred.report
            local.verdicts = [
                self._gated_verdict(batch, k, gate, check_values) if gate else verdict
                for k, (verdict, gate) in enumerate(zip(preferred.verdicts, gated, strict=True))
            ]
        # the judge's part, whichever strategy judged: the score of each verdict (0 when gated, None when unscored)
        outcomes = [outcome_from_verdict(verdict) for verdict in local.verdicts]
        judge_scores: list[float | None] = [o.score for o in outcomes] if self.judged else [0.0] * len(batch)
        if self.thresholds is not None:
            judge_scores = self._pass_fail(batch, judge_scores, gated)
        unscored = [o.unscored for o in outcomes] if self.judged else [False] * len(batch)
        parts: dict[str, list[float | None]] = {self.judge_name: judge_scores} if self.judged else {}
        for check in self.reward_checks:
            parts[f"check.{check.name}"] = [
                0.0 if gated[k] else None if unscored[k] else check_values[check.name][k] for k in range(len(batch))
            ]
        for spec, function in self.user_functions:
            values = function(prompts=prompts, completions=completions, **kwargs)
            if inspect.isawaitable(values):
                values = await values
            name = f"fn.{spec.function.rsplit(':', 1)[1]}"
            parts[name] = [
                0.0 if gated[k] else None if unscored[k] or values[k] is None else float(values[k])
                for k in range(len(batch))
            ]
        if self.judged:
            weights = dict(zip(self.names(), self.weights(), strict=True))
            rewards = [
                None
                if unscored[k]
                else sum(weights[n] * v for n, values in parts.items() if (v := values[k]) is not None)
                for k in range(len(batch))
            ]
            checks = [{n: values[k] for n, values in check_values.items()} for k in range(len(batch))]
            rows = self.collective.gather(
                [
                    JudgedRow(sample, verdict, gate, reward, check)
                    for sample, verdict, gate, reward, check in zip(
                        batch.samples(), local.verdicts, gated, rewards, checks, strict=True
                    )
                ]
            )
            report = report or _per_sample_report(rows, graded=self.grader is not None)
            await publish(batch, rows, report, self._destination())
        now = time.perf_counter()
        return ScoredBatch(parts=parts, judge_seconds=now - local.started, started=local.started, finished=now)

    def _destination(self) -> Destination:
        return Destination(
            run_id=self.run_id,
            is_training=self.is_training,
            main_process=self.collective.process_index == 0,
            sink=self.sink,
            guard=self.guard,
        )

    def _log_checks(self, batch: Batch, values: dict[str, list[float | None]]) -> None:
        gathered = self.collective.gather([[values[name][k] for name in values] for k in range(len(batch))])
        for index, name in enumerate(values):
            applicable = [row[index] for row in gathered if row[index] is not None]
            if applicable:
                batch.metric(f"checks/{name}/pass_rate", sum(v >= 1.0 for v in applicable) / len(applicable))

    # ---- rubric -----------------------------------------------------------------------------------------------

    async def _judge_rubric(
        self, batch: Batch, gated: list[str | None], check_values: dict[str, list[float | None]]
    ) -> list[SampleVerdict]:
        assert self.rubric_judge is not None
        samples = batch.samples()
        todo = [k for k in range(len(batch)) if gated[k] is None]
        pending = [samples[k] for k in todo]
        groups = group_by_judge(pending, self.rubric_judge.for_sample)
        results = await asyncio.gather(*(judge.ajudge([pending[k] for k in positions]) for judge, positions in groups))
        if self.content_free is not None:  # judge.content_free: no better than an empty answer earns nothing
            results = [
                await self.content_free.aapply(judge, [pending[k] for k in positions], judged)
                for (judge, positions), judged in zip(groups, results, strict=True)
            ]
        by_position: dict[int, SampleVerdict] = {}
        for (_, positions), judged in zip(groups, results, strict=True):
            by_position.update(zip((todo[k] for k in positions), judged, strict=True))
        return self._complete(batch, by_position, gated, check_values, _summary, "judge_p_pass")

    def _pass_fail(self, batch: Batch, scores: list[float | None], gated: list[str | None]) -> list[float | None]:
        assert self.rubric_judge is not None and self.thresholds is not None
        judges = self.rubric_judge
        return [
            score
            if score is None or gated[k]
            else pass_fail(score, self.thresholds[criteria_key(judges.rubric_for(sample))])
            for k, (score, sample) in enumerate(zip(scores, batch.samples(), strict=True))
        ]

    # ---- OpenAI grader --------------------------------------------------------------------------------------

    async def _grade(
        self, batch: Batch, gated: list[str | None], check_values: dict[str, list[float | None]]
    ) -> list[SampleVerdict]:
        """Each completion graded with item = its dataset row (every column but the prompt; ``prompt`` and
        ``reference`` added where the row has no such column, which a reward prompt reads), sample = its text."""
        assert self.grader is not None
        todo = [k for k in range(len(batch)) if gated[k] is None]
        samples = batch.samples()
        rows = [
            GradeRow(
                batch.sample_id(k),
                {"prompt": prompt_text(samples[k].prompt), "reference": samples[k].reference, **batch.metadata[k]},
                batch.texts[k],
            )
            for k in todo
        ]
        graded = await self.grader.ajudge(rows)
        by_position = dict(zip(todo, graded, strict=True))
        return self._complete(batch, by_position, gated, check_values, _grade_summary, "sub_rewards")

    def _complete(
        self,
        batch: Batch,
        by_position: dict[int, SampleVerdict],
        gated: list[str | None],
        check_values: dict[str, list[float | None]],
        summary: Callable[[SampleVerdict], str],
        scores_column: str,
    ) -> list[SampleVerdict]:
        """Every position's verdict (judged, or the gate's where a gate failed) and the batch's logged extras:
        the summary, the rationales, and each criterion's score under ``scores_column``."""
        verdicts = [
            by_position.get(k) or self._gated_verdict(batch, k, gated[k], check_values) for k in range(len(batch))
        ]
        batch.extra("judge_verdict", [summary(v) for v in verdicts])
        batch.extra("rationale", [_rationales(v) for v in verdicts])
        batch.extra(scores_column, [json.dumps({c.name: c.p_pass for c in v.criteria}) for v in verdicts])
        return verdicts

    def _gated_verdict(
        self, batch: Batch, k: int, gate: str | None, check_values: dict[str, list[float | None]]
    ) -> SampleVerdict:
        checks = {f"check.{name}": values[k] for name, values in check_values.items()}
        return gated_verdict(batch.sample_id(k), f"check.{gate}", checks)


def _per_sample_report(rows: list[JudgedRow], *, graded: bool) -> StrategyReport:
    """The report of a strategy with a verdict per completion (rubric, grader): criteria pass rates and scores
    (a grader's sub-rewards too), and why unscored samples were unscored."""
    judged = judged_verdicts(rows)
    metrics = rubric_metrics(judged)
    if graded:
        metrics.update(grader_metrics(judged))
    reasons = [v.unscored_reason for v in judged if not v.scored and v.unscored_reason]
    return StrategyReport(metrics=metrics, failure_reasons=reasons)


def grader_metrics(verdicts: Sequence[SampleVerdict]) -> dict[str, float | None]:
    """``grader/<name>/mean``: each sub-grader's mean reward (a multi grader's sub_rewards) over the batch."""
    values: dict[str, list[float]] = {}
    for verdict in verdicts:
        for criterion in verdict.criteria:
            if criterion.p_pass is not None:
                values.setdefault(criterion.name, []).append(criterion.p_pass)
    return {f"grader/{name}/mean": sum(v) / len(v) for name, v in values.items()}


def _grade_summary(verdict: SampleVerdict) -> str:
    if verdict.gate_failed:
        return f"gated by {verdict.gate_failed}: reward 0, not graded"
    if not verdict.scored:
        return f"UNSCORED: {verdict.unscored_reason}"
    return f"reward {verdict.score:.4g}"


def _summary(verdict: SampleVerdict) -> str:
    if verdict.gate_failed:
        return f"gated by {verdict.gate_failed}: reward 0, not judged"
    if not verdict.scored:
        return f"UNSCORED: {verdict.unscored_reason}"
    failed = [c.name for c in verdict.criteria if c.passed is False]
    passed = sum(1 for c in verdict.criteria if c.passed)
    text = f"{passed}/{len(verdict.criteria)} passed"
    return f"{text}; failed: {', '.join(failed)}" if failed else text


def _rationales(verdict: SampleVerdict) -> str:
    return " | ".join(f"{c.name}: {c.rationale}" for c in verdict.criteria if c.rationale)
