"""The reward contract of the serving doors: judgerl Samples -> verdicts -> rewards, with one failure policy.

A serving door (the Lambda, the HTTP server's /v1/nova and /get_reward, verl's compute_score) turns its
trainer's sample shape into :class:`~judgerl.samples.Sample`, asks a :class:`RewardScorer` for
:class:`RewardOutcome` s, and writes them back in the trainer's shape. The scorer judges with bounded concurrency
and an optional deadline; a sample the judge could not score (backend error, unparsable reply, deadline, bad
input) stays *unscored* with its reason, and only the trainer-facing ``reward`` number follows the
:class:`UnscoredPolicy`:

- ``neutral`` (default): the reward is ``neutral_value`` (0.5), so a training step never fails on a judge hiccup
  (the Amazon Nova RFT guidance for reward Lambdas);
- ``zero``: the reward is 0.0;
- ``error``: the batch raises :class:`UnscoredSamples` (the HTTP doors answer 503, the Lambda fails).

Whatever the policy, every outcome carries ``unscored`` and the reason, every door reports it as a metric, and
each outcome is written as one structured JSON log line (logger ``judgerl.rewards``; CloudWatch in a Lambda).
Turning a verdict into a reward (the score, when a sample is unscored, the policy's value) is
:mod:`judgerl.judges.outcome`, which TRL's reward functions (``judgerl.train.rewards``) share; this module adds
what the serving doors need around it. It does not import fastapi or any door's dependencies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from judgerl.aio import LoopThread
from judgerl.errors import RubricError
from judgerl.judges.base import ItemT, VerdictT
from judgerl.judges.outcome import RewardOutcome, UnscoredPolicy, outcome_from_verdict, unscored_verdict
from judgerl.judges.sample_judging import SampleJudging
from judgerl.samples import Sample
from judgerl.serve.fair_slots import FairSlots, current_owner
from judgerl.serve.judge_health import JudgeHealth
from judgerl.verdicts import SampleVerdict

logger = logging.getLogger(__name__)
rationale_log = logging.getLogger("judgerl.rewards")

#: metric names every door reports besides one per criterion; a criterion may not take them
RESERVED_METRICS = ("score", "unscored", "judge_latency_s")


class UnscoredSamples(RuntimeError):
    """Raised under the ``error`` policy when a batch has unscored samples; carries (id, reason) pairs."""

    def __init__(self, unscored: Sequence[tuple[str, str]]) -> None:
        self.unscored = list(unscored)
        first = "; ".join(f"{sid}: {reason}" for sid, reason in self.unscored[:3])
        more = f" (and {len(self.unscored) - 3} more)" if len(self.unscored) > 3 else ""
        super().__init__(f"{len(self.unscored)} sample(s) unscored under the 'error' policy: {first}{more}")


@dataclass(frozen=True)
class SampleProblem:
    """A sample a door could not turn into a judgerl Sample: it is reported unscored, the batch goes on."""

    id: str
    reason: str


async def cancel_pending(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel the unfinished tasks and wait until they are (a judge call in a worker thread is abandoned)."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


def enforce_policy(outcomes: Sequence[RewardOutcome], policy: UnscoredPolicy) -> None:
    """Under the ``error`` policy, raise when any outcome is unscored."""
    if policy.unscored == "error":
        failed = [(o.id, o.unscored_reason or "unscored") for o in outcomes if o.unscored]
        if failed:
            raise UnscoredSamples(failed)


def log_outcome(outcome: RewardOutcome, policy: UnscoredPolicy, door: str) -> None:
    """One JSON line per sample: the reward, the verdict per criterion and the rationales (CloudWatch-friendly)."""
    record: dict[str, Any] = {
        "event": "judgerl.reward",
        "door": door,
        "id": outcome.id,
        "reward": outcome.reward,
        "score": outcome.score,
        "unscored": outcome.unscored,
        "criteria": outcome.criteria,
        "latency_s": round(outcome.latency_s, 4),
        "judge_model": outcome.judge_model,
    }
    if outcome.unscored:
        record["unscored_reason"] = outcome.unscored_reason
        record["policy"] = str(policy)
    if outcome.gate_failed:
        record["gate_failed"] = outcome.gate_failed
    if outcome.rationales:
        record["rationales"] = outcome.rationales
    level = logging.WARNING if outcome.unscored else logging.INFO
    rationale_log.log(level, "%s", json.dumps(record, ensure_ascii=False, allow_nan=False))


def reference_text(value: Any) -> str | None:
    """A reference answer of any JSON shape as text for the judge: strings as is, structures as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def finish(
    verdicts: Sequence[SampleVerdict], policy: UnscoredPolicy, door: str, latency_s: float = 0.0
) -> list[RewardOutcome]:
    """Verdicts -> outcomes: one JSON log line per sample and one per batch, then the policy's error check."""
    outcomes = [outcome_from_verdict(v, policy) for v in verdicts]
    for outcome in outcomes:
        log_outcome(outcome, policy, door)
    unscored = sum(o.unscored for o in outcomes)
    summary = {
        "event": "judgerl.batch",
        "door": door,
        "samples": len(outcomes),
        "unscored": unscored,
        "policy": str(policy),
        "latency_s": round(latency_s, 4),
    }
    rationale_log.log(logging.WARNING if unscored else logging.INFO, "%s", json.dumps(summary))
    enforce_policy(outcomes, policy)
    return outcomes


class RewardScorer:
    """A rubric judge (or an OpenAI grader) plus a failure policy: the engine behind every door.

    ``concurrency`` bounds how many samples are judged at once *across all calls on one event loop* (the HTTP
    server shares it between requests); ``timeout_s`` on a call turns samples not judged in time into unscored
    ones instead of failing the batch."""

    def __init__(
        self, judge: SampleJudging, policy: UnscoredPolicy | None = None, concurrency: int | None = None
    ) -> None:
        names, source, what = judge.criterion_names, judge.source, judge.criterion_noun
        clash = sorted(set(names) & set(RESERVED_METRICS))
        if clash:
            raise RubricError(
                f"{source}: {what} name '{clash[0]}' is reserved for a metric every door reports "
                f"({', '.join(RESERVED_METRICS)}); rename the {what}"
            )
        self.judge = judge
        self._names = list(names)
        self.policy = policy or UnscoredPolicy()
        self.concurrency = max(1, concurrency or judge.concurrency)
        # one bound per event loop, forgotten with the loop (a semaphore cannot move between loops)
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FairSlots] = weakref.WeakKeyDictionary()
        self._loop_lock = threading.Lock()
        self._loop: LoopThread | None = None
        self.health = JudgeHealth()

    @property
    def criterion_names(self) -> list[str]:
        """The rubric's criteria, or a multi grader's sub-graders (a single grader: its own name)."""
        return self._names

    def semaphore(self) -> FairSlots:
        """The concurrency bound of the running event loop, shared fairly by every call on that loop."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = FairSlots(self.concurrency)
        return semaphore

    async def averdicts(
        self, samples: Sequence[Sample | SampleProblem], timeout_s: float | None = None
    ) -> list[SampleVerdict]:
        """One verdict per item, in order; problems, errors and samples past the deadline come back unscored."""
        model = self.judge.model_id
        current_owner.set(object())  # this call's tasks share one fair share of the slots
        judgeable = [item for item in samples if isinstance(item, Sample)]
        judged = iter(await self.judge_each(judgeable, self.judge.ajudge, timeout_s))
        verdicts: list[SampleVerdict] = []
        for item in samples:
            if isinstance(item, SampleProblem):
                verdicts.append(unscored_verdict(item.id, f"invalid sample: {item.reason}", model))
                continue
            outcome = next(judged)
            if isinstance(outcome, str):
                verdicts.append(unscored_verdict(item.id, outcome, model))
            else:
                verdicts.append(outcome)
        self.health.observe(verdicts)
        return verdicts

    async def judge_each(
        self,
        items: Sequence[ItemT],
        ajudge: Callable[[Sequence[ItemT]], Awaitable[Sequence[VerdictT]]],
        timeout_s: float | None,
    ) -> list[VerdictT | str]:
        """Each item judged on its own under the loop's shared bound, by the deadline: its verdict, or why there is
        none ('judge timed out after ...', 'judge error: ...'). The serving doors' one fan-out."""
        semaphore = self.semaphore()

        async def one(item: ItemT) -> VerdictT:
            async with semaphore:
                (verdict,) = await ajudge([item])
            return verdict

        tasks = [asyncio.ensure_future(one(item)) for item in items]
        try:
            if tasks:
                await asyncio.wait(tasks, timeout=timeout_s)
        finally:  # past the deadline, or the caller went away: stop what is still queued or running
            await cancel_pending(tasks)
        outcomes: list[VerdictT | str] = []
        for item, task in zip(items, tasks, strict=True):
            exc = None if task.cancelled() else task.exception()
            if task.cancelled():
                outcomes.append(f"judge timed out after {timeout_s:g} s")
            elif exc is not None:
                logger.error("judging %s failed: %s: %s", item.id, type(exc).__name__, exc)
                outcomes.append(f"judge error: {type(exc).__name__}: {exc}")
            else:
                outcomes.append(task.result())
        return outcomes

    async def ascore(
        self, samples: Sequence[Sample | SampleProblem], door: str, timeout_s: float | None = None
    ) -> list[RewardOutcome]:
        """Rewards in input order, logged one JSON line each; raises UnscoredSamples under the error policy."""
        started = time.perf_counter()
        verdicts = await self.averdicts(samples, timeout_s)
        return finish(verdicts, self.policy, door, time.perf_counter() - started)

    def _run(self, coroutine: Any) -> Any:
        """Synchronous callers share one loop thread, so deadlines hold and the concurrency bound is global."""
        with self._loop_lock:
            if self._loop is None:
                self._loop = LoopThread("judgerl-scorer", workers=self.concurrency)
        return self._loop.run(coroutine)

    def score(
        self, samples: Sequence[Sample | SampleProblem], door: str, timeout_s: float | None = None
    ) -> list[RewardOutcome]:
        """:meth:`ascore` for synchronous code (the Lambda handler, verl, TRL)."""
        outcomes: list[RewardOutcome] = self._run(self.ascore(samples, door, timeout_s))
        return outcomes

    def verdicts(
        self, samples: Sequence[Sample | SampleProblem], timeout_s: float | None = None
    ) -> list[SampleVerdict]:
        """:meth:`averdicts` for synchronous code."""
        verdicts: list[SampleVerdict] = self._run(self.averdicts(samples, timeout_s))
        return verdicts
