"""The candidate ways of asking `judgerl tune` tries, and how each is scored on labelled items.

A :class:`Candidate` is a recipe: a base strategy (template and readout) plus what is fitted on training rows only
(few-shot examples, a length correction for pairs, a probe on hidden states). Scoring goes through
:func:`judgerl.judges.strategies.rubric_p_pass` / :func:`~judgerl.judges.strategies.pair_p_first`, the code every
door runs with a tuned strategy.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from judgerl.aio import fan_out, run_sync
from judgerl.backends.base import JudgeBackend
from judgerl.errors import JudgerlError
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.judges.strategies import Shot, Strategy, length_feature, pair_p_first, rubric_p_pass
from judgerl.rubric import Rubric
from judgerl.samples import LabelledSample, prompt_text
from judgerl.validate.loaders import LabelledPair


@dataclass(frozen=True)
class Candidate:
    """A way of asking before fitting: ``base`` plus what is fitted on training rows."""

    base: Strategy
    shots: int = 0
    length: bool = False
    probe: bool = False

    @property
    def name(self) -> str:
        parts = [self.base.name]
        if self.shots:
            parts.append(f"{self.shots}shot")
        if self.length:
            parts.append("length")
        if self.probe:
            parts.append("probe")
        return "+".join(parts)


def rubric_candidates() -> list[Candidate]:
    rubric = [Strategy(template=t) for t in ("current", "plain", "reply_only", "rules_first")]
    rubric += [Strategy(template=t) for t in ("reference_first", "self_reference", "split")]
    rubric += [Strategy(readout="graded"), Strategy(template="plain", readout="graded"), Strategy(readout="average")]
    fitted = [Candidate(Strategy(), shots=2), Candidate(Strategy(), probe=True)]
    fitted.append(Candidate(Strategy(template="plain"), probe=True))
    return [Candidate(s) for s in rubric] + fitted


def pair_candidates() -> list[Candidate]:
    pair = [Strategy(kind="pair", template=t) for t in ("current", "plain", "rules_first", "self_reference")]
    pair.append(Strategy(kind="pair", readout="average"))
    plain = Strategy(kind="pair")
    fitted = [Candidate(plain, shots=2), Candidate(plain, length=True), Candidate(plain, probe=True)]
    fitted.append(Candidate(Strategy(kind="pair", template="rules_first"), length=True))
    return [Candidate(s) for s in pair] + fitted


def choose_candidates(kind: str, names: Sequence[str] | None) -> list[Candidate]:
    """The default candidates, or those named (always with the plain verdict, the baseline)."""
    known = rubric_candidates() if kind == "rubric" else pair_candidates()
    if not names:
        return known
    by_name = {c.name: c for c in known}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise JudgerlError(f"--candidates: unknown '{unknown[0]}'; choose from {', '.join(by_name)}")
    chosen = [by_name[n] for n in dict.fromkeys(["current", *names])]
    return chosen


# ---- the labelled rows -----------------------------------------------------------------------------------------


@dataclass
class Row:
    """One labelled verdict: a criterion of a sample (rubric) or a pair; ``item`` is the labelled item it belongs
    to (folds and the held-apart split are drawn over items)."""

    item: int
    label: bool
    criterion: str = ""


@dataclass
class Scored:
    """A strategy's probability for each row it scored, hidden states when asked for, and what it cost."""

    p: dict[int, float] = field(default_factory=dict)
    hidden: dict[int, list[float]] = field(default_factory=dict)
    errors: int = 0
    tokens: int = 0
    seconds: float = 0.0
    items: int = 0


class Task:
    """Labelled data and a backend, for scoring strategies: rubric rows or pairs."""

    kind: str
    rows: list[Row]
    n_items: int

    def __init__(self, backend: JudgeBackend, concurrency: int = 4) -> None:
        self.backend = backend
        self.concurrency = concurrency

    def shots(self, items: Sequence[int], count: int, seed: int) -> list[Shot]:
        raise NotImplementedError

    async def _score_item(self, strategy: Strategy, item: int, hidden: bool) -> tuple[dict[int, float], dict, int]:
        raise NotImplementedError

    def score(self, strategy: Strategy, items: Sequence[int], hidden: bool = False) -> Scored:
        """Score ``strategy`` on the rows of ``items`` (run on the backend, a few items at a time)."""
        return run_sync(self._score(strategy, items, hidden))

    async def _score(self, strategy: Strategy, items: Sequence[int], hidden: bool) -> Scored:
        scored = Scored(items=len(items))
        started = time.perf_counter()

        async def one(item: int) -> tuple[dict[int, float], dict[int, list[float]], int]:
            return await self._score_item(strategy, item, hidden)

        for p, states, tokens in await fan_out(list(items), one, self.concurrency):
            scored.p.update(p)
            scored.hidden.update(states)
            scored.tokens += tokens
        scored.seconds = time.perf_counter() - started
        wanted = sum(1 for row in self.rows if row.item in set(items))
        scored.errors = wanted - len(scored.p)
        return scored


class RubricTask(Task):
    kind = "rubric"

    def __init__(
        self, rubric: Rubric, samples: Sequence[LabelledSample], backend: JudgeBackend, concurrency: int = 4
    ) -> None:
        super().__init__(backend, concurrency)
        self.rubric = rubric
        self.samples = list(samples)
        self._judge = RubricJudge(rubric, backend, rationales="none")
        by_name = {c.name: c for c in rubric.criteria}
        self.rows = [
            Row(item=i, label=bool(value), criterion=name)
            for i, sample in enumerate(self.samples)
            for name, value in sample.labels.items()
            if name in by_name
        ]
        self.n_items = len(self.samples)
        self._row_index = {(row.item, row.criterion): index for index, row in enumerate(self.rows)}

    def shots(self, items: Sequence[int], count: int, seed: int) -> list[Shot]:
        """Per criterion, ``count`` examples alternating PASS and FAIL, drawn from ``items`` only."""
        rng = random.Random(seed)
        chosen = set(items)
        shots: list[Shot] = []
        for criterion in self.rubric.criteria:
            pools = {
                label: [r for r in self.rows if r.item in chosen and r.criterion == criterion.name and r.label == label]
                for label in (True, False)
            }
            for k in range(count):
                pool = pools[k % 2 == 0] or pools[k % 2 == 1]
                if not pool:
                    continue
                row = pool.pop(rng.randrange(len(pool)))
                sample = self.samples[row.item]
                shots.append(
                    Shot(
                        prompt=prompt_text(sample.prompt),
                        response=sample.response,
                        criterion=criterion.text,
                        label="PASS" if row.label else "FAIL",
                    )
                )
        return shots

    async def _score_item(self, strategy: Strategy, item: int, hidden: bool) -> tuple[dict[int, float], dict, int]:
        sample = self.samples[item]
        material, _ = self._judge.material(sample)
        criteria = [c for c in self.rubric.criteria if c.name in sample.labels]
        readings = await rubric_p_pass(self.backend, strategy, material, criteria, self.rubric.instructions, hidden)
        p: dict[int, float] = {}
        states: dict[int, list[float]] = {}
        tokens = 0
        for criterion, reading in zip(criteria, readings, strict=True):
            tokens += reading.prompt_tokens + reading.completion_tokens
            row = self._row_index[(item, criterion.name)]
            if reading.p is not None:
                p[row] = reading.p
                if reading.hidden is not None:
                    states[row] = reading.hidden
        return p, states, tokens


class PairTask(Task):
    kind = "pair"

    def __init__(
        self, pairs: Sequence[LabelledPair], backend: JudgeBackend, instructions: str = "", concurrency: int = 4
    ) -> None:
        super().__init__(backend, concurrency)
        self.pairs = [p for p in pairs if p.human != "tie"]  # a tie has no right answer to agree with
        if not self.pairs:
            raise JudgerlError("tune needs labelled pairs with a preferred response (all pairs are ties)")
        self.instructions = instructions
        self._judge = PairwiseJudge(backend, instructions=instructions)
        self.rows = [Row(item=i, label=p.human == "A") for i, p in enumerate(self.pairs)]
        self.n_items = len(self.pairs)

    def shots(self, items: Sequence[int], count: int, seed: int) -> list[Shot]:
        rng = random.Random(seed)
        pools = {label: [i for i in items if self.rows[i].label == label] for label in (True, False)}
        shots = []
        for k in range(count):
            pool = pools[k % 2 == 0] or pools[k % 2 == 1]
            if not pool:
                continue
            pair = self.pairs[pool.pop(rng.randrange(len(pool)))]
            prompt, a, b, _ = self._judge.texts(pair.pair)
            shots.append(Shot(prompt=prompt, response=a, response_b=b, label=pair.human))
        return shots

    def length(self, row: int) -> float:
        pair = self.pairs[self.rows[row].item].pair
        return length_feature(pair.response_a, pair.response_b)

    async def _score_item(self, strategy: Strategy, item: int, hidden: bool) -> tuple[dict[int, float], dict, int]:
        pair = self.pairs[item].pair
        prompt, a, b, _ = self._judge.texts(pair)
        reading, _first, _second = await pair_p_first(
            self.backend, strategy, prompt, a, b, pair.reference, self.instructions, hidden
        )
        tokens = reading.prompt_tokens + reading.completion_tokens
        states = {item: reading.hidden} if reading.hidden is not None else {}
        return ({item: reading.p} if reading.p is not None else {}), states, tokens
