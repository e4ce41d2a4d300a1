"""The one publish step of a training batch's judge rewards, whichever strategy judged it (rubric or preference).

A strategy turns the batch into one :class:`~judgerl.verdicts.SampleVerdict` per completion (a gated completion's
comes from :func:`judgerl.judges.outcome.gated_verdict`); the reward pipeline turns those into the judge's reward
part with :func:`judgerl.judges.outcome.outcome_from_verdict`, gathers the batch from every process and hands it
here with the strategy's :class:`StrategyReport`. This step logs the metrics (the unscored and gated fractions the
same way for both strategies), writes the batch to the verdict store from the main process, and feeds the
unscored guard, so both strategies agree on what is unscored and on what is recorded.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from judgerl.judges.outcome import verdict_score
from judgerl.samples import PairSample, Sample
from judgerl.train.batch import Batch
from judgerl.train.metrics import UnscoredGuard
from judgerl.train.verdict_log import VerdictSink, record_pairs
from judgerl.verdicts import PairVerdict, SampleVerdict


@dataclass(frozen=True)
class JudgedRow:
    """One completion of the gathered batch: its verdict, the gate check that stopped it before the judge (if
    any), the trainer's total reward (None when unscored) and the values of the run's checks."""

    sample: Sample
    verdict: SampleVerdict
    gate: str | None
    reward: float | None
    checks: dict[str, float | None]


@dataclass(frozen=True)
class StrategyReport:
    """What the strategy that judged the batch adds: its own metrics (computed from the verdicts it sent to the
    judge), why judge calls failed (for the guard's message), and the pairwise verdicts behind preference rewards."""

    metrics: dict[str, float | None]
    failure_reasons: list[str]
    pairs: list[PairSample] = field(default_factory=list)
    pair_verdicts: list[PairVerdict] = field(default_factory=list)


@dataclass(frozen=True)
class Destination:
    """Where a run's batches go: the store (written by the main process only) and the guard (training only)."""

    run_id: str
    is_training: Callable[[], bool]
    main_process: bool
    sink: VerdictSink | None = None
    guard: UnscoredGuard | None = None


def judged_verdicts(rows: Sequence[JudgedRow]) -> list[SampleVerdict]:
    """Verdicts of the completions that went to the judge (not stopped by a gate check)."""
    return [row.verdict for row in rows if row.gate is None]


async def publish(batch: Batch, rows: Sequence[JudgedRow], report: StrategyReport, destination: Destination) -> None:
    """Metrics, store and guard for one gathered batch (identical on every process)."""
    judged = judged_verdicts(rows)
    unscored = sum(1 for verdict in judged if verdict_score(verdict) is None)
    metrics = {
        **report.metrics,
        "judge/unscored_frac": unscored / len(judged) if judged else 0.0,
        "judge/gated_frac": (len(rows) - len(judged)) / len(rows) if rows else 0.0,
    }
    for name, value in metrics.items():
        batch.metric(name, value)
    training = destination.is_training()
    sink = destination.sink
    if sink is not None and destination.main_process:
        run_id = destination.run_id if training else f"{destination.run_id}/eval"
        await asyncio.to_thread(
            functools.partial(
                sink.record_samples,
                run_id,
                batch.step,
                [row.sample for row in rows],
                [row.verdict for row in rows],
                rewards=[row.reward for row in rows],
                checks=[row.checks for row in rows],
            )
        )
        if report.pairs:
            await asyncio.to_thread(record_pairs, sink, run_id, batch.step, report.pairs, report.pair_verdicts)
    if destination.guard is not None and training:
        destination.guard.update(unscored, len(judged), report.failure_reasons)
