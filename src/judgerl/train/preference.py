"""Preference rewards for GRPO: pairwise verdicts inside each group become one reward per completion.

Pairs are judged in both orders by ``PairwiseJudge`` (an order-dependent verdict is a tie). ``all`` compares
every pair of a group (G(G-1)/2 pairs); ``tournament`` compares each completion with about ``opponents`` others
(a shuffled circle: completion i meets i+1 .. i+k/2 positions away), for large groups. The outcomes are turned
into rewards by win rate (a win 1, a tie 1/2) or by a Bradley-Terry fit.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from judgerl.errors import JudgerlError
from judgerl.judges.cascade import PairJudging
from judgerl.judges.outcome import gated_verdict
from judgerl.samples import PairSample, Sample
from judgerl.train.batch import Batch
from judgerl.train.collective import Collective
from judgerl.train.config import PreferenceSettings
from judgerl.train.metrics import pair_metrics
from judgerl.train.publish import StrategyReport
from judgerl.verdicts import PairVerdict, SampleVerdict


@dataclass(frozen=True)
class PreferenceContext:
    """What judging a batch's preferences needs from the run; the reward pipeline builds one per batch, so this
    module never imports the pipeline."""

    judge: PairJudging
    settings: PreferenceSettings
    collective: Collective
    num_generations: int
    seed: int


@dataclass(frozen=True)
class PreferenceVerdicts:
    """The preference strategy's result: one verdict per local completion (its reward as the score; a gated one
    from ``gated_verdict``), and the report the publish step adds (pair metrics, the pairs and their verdicts)."""

    verdicts: list[SampleVerdict]
    report: StrategyReport


@dataclass(frozen=True)
class Match:
    """Completions ``i`` and ``j`` (positions inside their group) compared as A = i, B = j."""

    group: int
    i: int
    j: int


def schedule_pairs(group_size: int, mode: str, opponents: int, seed: int) -> list[tuple[int, int]]:
    """Pairs (i, j), i != j, to judge inside one group; each unordered pair at most once."""
    if group_size < 2:
        return []
    if mode == "all" or opponents >= group_size - 1:
        return [(i, j) for i in range(group_size) for j in range(i + 1, group_size)]
    order = list(range(group_size))
    random.Random(seed).shuffle(order)
    pairs: set[tuple[int, int]] = set()
    for offset in range(1, max(1, opponents // 2) + 1):
        for position in range(group_size):
            a, b = order[position], order[(position + offset) % group_size]
            pairs.add((min(a, b), max(a, b)))
    if opponents % 2 == 1 and group_size % 2 == 0:  # an odd count: add the opposite side of the circle
        half = group_size // 2
        for position in range(half):
            a, b = order[position], order[position + half]
            pairs.add((min(a, b), max(a, b)))
    return sorted(pairs)


def outcome(verdict: PairVerdict, soft: bool) -> float | None:
    """A's share of the match: 1 win, 0.5 tie, 0 loss (or P(A better) when soft); None when unscored."""
    if not verdict.scored:
        return None
    if soft:
        return verdict.p_a
    return {"A": 1.0, "B": 0.0, "tie": 0.5}.get(verdict.winner or "")


def win_rates(group_size: int, results: Sequence[tuple[int, int, float | None]]) -> list[float | None]:
    """Mean share of each completion over its scored matches; None for a completion with none."""
    totals = [0.0] * group_size
    counts = [0] * group_size
    for i, j, share in results:
        if share is None:
            continue
        totals[i] += share
        totals[j] += 1.0 - share
        counts[i] += 1
        counts[j] += 1
    return [totals[k] / counts[k] if counts[k] else None for k in range(group_size)]


def bradley_terry(
    group_size: int, results: Sequence[tuple[int, int, float | None]], prior: float = 0.5, iterations: int = 200
) -> list[float | None]:
    """Bradley-Terry strengths by the MM algorithm, with ``prior`` pseudo-wins and pseudo-losses against a
    virtual player of strength 1 (it fixes the scale and keeps undefeated completions finite). Returned as
    P(beat that reference player) in (0, 1), so rewards are comparable across groups."""
    scored = [(i, j, s) for i, j, s in results if s is not None]
    played = [0] * group_size
    for i, j, _ in scored:
        played[i] += 1
        played[j] += 1
    strength = [1.0] * group_size
    for _ in range(iterations):
        updated = []
        for k in range(group_size):
            if not played[k]:
                updated.append(1.0)
                continue
            wins = prior
            denominator = 2 * prior / (strength[k] + 1.0)  # prior games against a strength-1 player
            for i, j, share in scored:
                if k == i:
                    wins += share
                    denominator += 1.0 / (strength[i] + strength[j])
                elif k == j:
                    wins += 1.0 - share
                    denominator += 1.0 / (strength[i] + strength[j])
            updated.append(wins / denominator)
        converged = max(abs(math.log(a) - math.log(b)) for a, b in zip(updated, strength, strict=True)) < 1e-9
        strength = updated
        if converged:
            break
    return [strength[k] / (strength[k] + 1.0) if played[k] else None for k in range(group_size)]


def group_rewards(
    group_size: int,
    matches: Sequence[tuple[int, int]],
    verdicts: Sequence[PairVerdict],
    aggregate: str = "win_rate",
    soft: bool = False,
) -> list[float | None]:
    """Rewards for one group from its judged matches (``verdicts[k]`` judges ``matches[k]`` as A=i, B=j)."""
    results = [(i, j, outcome(v, soft)) for (i, j), v in zip(matches, verdicts, strict=True)]
    if aggregate == "bradley_terry":
        return bradley_terry(group_size, results)
    return win_rates(group_size, results)


# ---- judging a generation batch ----------------------------------------------------------------------------------


def _gate_verdict(pair_id: str, a_gated: str | None, b_gated: str | None) -> PairVerdict:
    """A match decided by a gate check, without the judge: the response that passed the gates wins."""
    if a_gated and b_gated:
        return PairVerdict(id=pair_id, p_a=0.5, winner="tie", consistent=True, judge_model="gate")
    winner = "B" if a_gated else "A"
    return PairVerdict(
        id=pair_id,
        p_a=0.0 if a_gated else 1.0,
        winner=winner,
        consistent=True,
        judge_model="gate",
        rationale=f"response {'A' if a_gated else 'B'} failed gate check.{a_gated or b_gated}",
    )


async def judge_preferences(context: PreferenceContext, batch: Batch, gated: list[str | None]) -> PreferenceVerdicts:
    """Verdicts for the local completions from pairwise verdicts inside each group.

    Every process gathers the whole batch (a group may be split over processes), judges its share of the
    matches (match m goes to process m mod P), gathers all verdicts and computes every group's rewards; it keeps
    its own slice. All processes therefore agree on every reward."""
    judge, settings, collective = context.judge, context.settings, context.collective
    samples = batch.samples()
    everything = collective.gather(list(zip(samples, gated, strict=True)))
    size = context.num_generations
    if len(everything) % size:
        raise JudgerlError(
            f"preference rewards: batch of {len(everything)} is not a multiple of num_generations {size}"
        )
    matches: list[Match] = []
    for group in range(len(everything) // size):
        members = everything[group * size : (group + 1) * size]
        prompt_ids = {sample.metadata.get("prompt_id") for sample, _ in members}
        if len(prompt_ids) != 1:
            raise JudgerlError(
                f"preference rewards: group {group} of step {batch.step} mixes prompts {sorted(map(str, prompt_ids))}; "
                "GRPO groups must be contiguous (do not change TRL's sampler)"
            )
        seed = context.seed * 1_000_003 + batch.step * 1_009 + group
        matches += [Match(group, i, j) for i, j in schedule_pairs(size, settings.pairs, settings.opponents, seed)]
    pairs = [_pair(everything, size, m) for m in matches]
    mine = [
        k
        for k, m in enumerate(matches)
        if k % collective.num_processes == collective.process_index
        and not everything[m.group * size + m.i][1]
        and not everything[m.group * size + m.j][1]
    ]
    judged = await judge.ajudge([pairs[k] for k in mine]) if mine else []
    by_match = dict(collective.gather(list(zip(mine, judged, strict=True))))
    verdicts: list[PairVerdict] = []
    for k, m in enumerate(matches):
        a_gate, b_gate = everything[m.group * size + m.i][1], everything[m.group * size + m.j][1]
        verdicts.append(by_match[k] if k in by_match else _gate_verdict(pairs[k].id, a_gate, b_gate))
    rewards: list[float | None] = []
    for group in range(len(everything) // size):
        indices = [k for k, m in enumerate(matches) if m.group == group]
        group_values = group_rewards(
            size,
            [(matches[k].i, matches[k].j) for k in indices],
            [verdicts[k] for k in indices],
            settings.aggregate,
            settings.soft,
        )
        gates = [everything[group * size + i][1] for i in range(size)]
        rewards += [0.0 if gates[i] else group_values[i] for i in range(size)]
    _explain(batch, everything, matches, verdicts, rewards, size)
    decided = [v for v in verdicts if v.judge_model != "gate"]
    model = decided[0].judge_model if decided else ""
    local = range(batch.offset, batch.offset + len(batch))
    report = StrategyReport(
        metrics=pair_metrics(decided),
        failure_reasons=[v.unscored_reason for v in decided if v.unscored_reason],
        pairs=pairs,
        pair_verdicts=verdicts,
    )
    verdicts_here = [_sample_verdict(everything[k][0], everything[k][1], rewards[k], model) for k in local]
    return PreferenceVerdicts(verdicts_here, report)


def _sample_verdict(sample: Sample, gate: str | None, reward: float | None, model: str) -> SampleVerdict:
    """A completion's preference reward as a verdict: the reward is its score, None when no comparison in its
    group was scored; a gated completion's is the gate's verdict (0, not judged)."""
    if gate:
        return gated_verdict(sample.id, f"check.{gate}")
    reason = None if reward is not None else "no scored comparison in its group"
    return SampleVerdict(id=sample.id, score=reward, hard_score=reward, unscored_reason=reason, judge_model=model)


def _pair(everything: list[tuple[Sample, str | None]], size: int, match: Match) -> PairSample:
    a, b = everything[match.group * size + match.i][0], everything[match.group * size + match.j][0]
    return PairSample(
        id=f"{a.id}~{b.id}",
        prompt=a.prompt,
        response_a=a.response,
        response_b=b.response,
        reference=a.reference,
        metadata={"prompt_id": a.metadata.get("prompt_id"), "a": a.id, "b": b.id, "group": match.group},
    )


def _explain(
    batch: Batch,
    everything: list[tuple[Sample, str | None]],
    matches: list[Match],
    verdicts: list[PairVerdict],
    rewards: list[float | None],
    size: int,
) -> None:
    """A completions-table column per local completion: its record and the reasons given where it lost."""
    lines = []
    for k in range(batch.offset, batch.offset + len(batch)):
        group, position = divmod(k, size)
        record = []
        for match, verdict in zip(matches, verdicts, strict=True):
            if match.group != group or position not in (match.i, match.j):
                continue
            other = match.j if position == match.i else match.i
            share = outcome(verdict, soft=False)
            mine = None if share is None else share if position == match.i else 1 - share
            label = "?" if mine is None else {1.0: "W", 0.5: "T", 0.0: "L"}.get(mine, f"{mine:.2f}")
            record.append(
                f"{label} vs #{other}" + (f" ({verdict.rationale})" if verdict.rationale and label != "W" else "")
            )
        reward = rewards[k]
        lines.append(f"reward {'unscored' if reward is None else f'{reward:.2f}'}: " + "; ".join(record))
    batch.extra("preference", lines)
