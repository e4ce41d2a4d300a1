"""The search: candidates compared by k-fold cross-validation on the training items, the winner confirmed on items
held apart (which chose nothing), beside the plain log-prob verdict on the same items.

Figures: AUC of P(PASS) against the labels (rubric rows), order-averaged accuracy (pairs: P(A better) above 0.5 when
people preferred A). Every statistic and interval comes from :mod:`judgerl.stats`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from judgerl.errors import JudgerlError
from judgerl.judges.calibration import fit_threshold
from judgerl.judges.strategies import Strategy
from judgerl.stats import Estimate, accuracy, auc_estimate, estimate, paired_statistic_difference, roc_auc, select
from judgerl.tune.candidates import Candidate, PairTask, Scored, Task
from judgerl.tune.probe import fit_probe

Progress = Callable[[str], None]


class CandidateResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    cv: float | None
    unscored: int
    tokens_per_verdict: float
    seconds_per_verdict: float


class HeldApart(BaseModel):
    """A strategy's figure on the held-apart items, and its cost per verdict there."""

    model_config = ConfigDict(frozen=True)

    strategy: str
    figure: Estimate
    unscored: int
    tokens_per_verdict: float
    seconds_per_verdict: float


class TuneResult(BaseModel):
    """What `judgerl tune` measured: cross-validated figures of every candidate (which chose), then the chosen
    and the plain verdict on the held-apart items (which did not)."""

    kind: str
    metric: str
    folds: int
    train_items: int
    heldout_items: int
    candidates: list[CandidateResult]
    chosen: str
    strategy: Strategy
    heldout: HeldApart
    plain: HeldApart
    difference: Estimate
    cost_ratio_tokens: float | None
    cost_ratio_seconds: float | None
    at: str


def metric_name(kind: str) -> str:
    return "auc" if kind == "rubric" else "order_averaged_accuracy"


def figure(task: Task, rows: Sequence[int], p: dict[int, float]) -> float | None:
    """The task's figure on ``rows``; an unscored row counts against a pair (wrong), and is left out of an AUC."""
    if task.kind == "rubric":
        kept = [r for r in rows if r in p]
        return roc_auc([p[r] for r in kept], [task.rows[r].label for r in kept])
    predicted = [r in p and (p[r] > 0.5) == task.rows[r].label for r in rows]
    return accuracy(predicted, [True] * len(predicted))


def split_items(n_items: int, holdout: float, folds: int, seed: int) -> tuple[list[int], list[int], dict[int, int]]:
    """(training items, held-apart items, fold of each training item), shuffled by ``seed``."""
    order = list(range(n_items))
    random.Random(seed).shuffle(order)
    n_held = max(1, round(n_items * holdout))
    held, train = sorted(order[:n_held]), order[n_held:]
    if len(train) < folds:
        raise JudgerlError(f"tune needs at least {folds + n_held} labelled items for {folds} folds; got {n_items}")
    return sorted(train), held, {item: index % folds for index, item in enumerate(train)}


class Search:
    """Cross-validated choice among candidates on ``task``, then the held-apart confirmation."""

    def __init__(
        self, task: Task, folds: int = 5, holdout: float = 0.3, seed: int = 0, progress: Progress | None = None
    ) -> None:
        if folds < 2:
            raise JudgerlError("--folds must be at least 2")
        if not 0 < holdout < 1:
            raise JudgerlError("--holdout must be a fraction between 0 and 1")
        self.task = task
        self.folds = folds
        self.seed = seed
        self.progress = progress or (lambda message: None)
        self.train, self.held, self.fold = split_items(task.n_items, holdout, folds, seed)
        self._base: dict[tuple[str, bool, tuple[int, ...]], Scored] = {}

    def rows_of(self, items: Sequence[int]) -> list[int]:
        chosen = set(items)
        return [index for index, row in enumerate(self.task.rows) if row.item in chosen]

    def _base_scores(self, strategy: Strategy, items: Sequence[int], hidden: bool) -> Scored:
        """A strategy's scores on ``items``, computed once: with a backend that has hidden states they are kept
        from the same pass, so the plain verdict and the probe built on it share their forward passes."""
        hidden = hidden or self.task.backend.supports_hidden_states
        key = (strategy.model_dump_json(), hidden, tuple(items))
        if key not in self._base:
            self._base[key] = self.task.score(strategy, items, hidden)
        return self._base[key]

    # ---- fitting one candidate on some items, applying it to others -------------------------------------------

    def fit(self, candidate: Candidate, items: Sequence[int], base: Scored | None = None) -> Strategy:
        """The candidate's strategy fitted on ``items`` (shots drawn from them; probe and length fitted on their
        base scores)."""
        update: dict[str, object] = {}
        if candidate.shots:
            update["shots"] = self.task.shots(items, candidate.shots, self.seed)
        if candidate.length or candidate.probe:
            base = base or self._base_scores(candidate.base, self.train, candidate.probe)
            rows = [r for r in self.rows_of(items) if r in base.p]
            labels = [self.task.rows[r].label for r in rows]
            if candidate.probe:
                if any(r not in base.hidden for r in rows):
                    raise JudgerlError(f"backend '{self.task.backend.name}' gave no hidden states for the probe")
                update["probe"] = fit_probe([base.hidden[r] for r in rows], labels)
            if candidate.length and isinstance(self.task, PairTask):
                update["length_weight"] = fit_length_weight(
                    [base.p[r] for r in rows], [self.task.length(r) for r in rows], labels
                )
        return candidate.base.model_copy(update=update)

    def apply(self, candidate: Candidate, strategy: Strategy, items: Sequence[int], base: Scored | None) -> Scored:
        """Scores of the fitted ``strategy`` on ``items``: the probe and the length correction reuse the base
        scores (the forward passes are the same), other strategies run on the backend."""
        if not (candidate.length or candidate.probe) or base is None:
            return self._base_scores(strategy, items, False)  # the plain verdict on held-apart items runs once
        out = Scored(items=len(items), tokens=base.tokens, seconds=base.seconds)
        for row in self.rows_of(items):
            if row not in base.p:
                continue
            if strategy.probe is not None:
                out.p[row] = strategy.probe.p(base.hidden[row])
            else:
                out.p[row] = _shift(base.p[row], strategy.length_weight * self.task.length(row))  # type: ignore[attr-defined]
        out.errors = len(self.rows_of(items)) - len(out.p)
        return out

    # ---- cross-validation --------------------------------------------------------------------------------------

    def cross_validate(self, candidate: Candidate) -> tuple[CandidateResult, dict[int, float]]:
        """Out-of-fold scores of ``candidate`` on the training rows (each fold scored by a fit on the others)."""
        oof: dict[int, float] = {}
        tokens = seconds = 0.0
        errors = 0
        fitted = candidate.shots or candidate.length or candidate.probe
        base = None
        if not fitted or candidate.length or candidate.probe:
            base = self._base_scores(candidate.base, self.train, candidate.probe)
            tokens, seconds, errors = base.tokens, base.seconds, base.errors
        if not fitted:
            assert base is not None
            oof = dict(base.p)
        else:
            if candidate.shots:  # the shots' prompts are new passes: their cost is what the folds spent
                tokens = seconds = 0.0
            for fold in range(self.folds):
                inside = [i for i in self.train if self.fold[i] != fold]
                outside = [i for i in self.train if self.fold[i] == fold]
                strategy = self.fit(candidate, inside, base)
                scored = self.apply(candidate, strategy, outside, base)
                oof.update(scored.p)
                if candidate.shots:
                    tokens, seconds, errors = tokens + scored.tokens, seconds + scored.seconds, errors + scored.errors
        rows = self.rows_of(self.train)
        verdicts = max(1, len(rows))
        result = CandidateResult(
            name=candidate.name,
            cv=figure(self.task, rows, oof),
            unscored=errors,
            tokens_per_verdict=tokens / verdicts,
            seconds_per_verdict=seconds / verdicts,
        )
        return result, oof

    # ---- the whole search --------------------------------------------------------------------------------------

    def run(self, candidates: Sequence[Candidate], resamples: int = 2000) -> TuneResult:
        results: list[tuple[CandidateResult, dict[int, float], Candidate]] = []
        for candidate in candidates:
            self.progress(f"cross-validating {candidate.name}")
            try:
                result, oof = self.cross_validate(candidate)
            except JudgerlError as exc:
                if candidate.probe:  # a backend without hidden states: the probe is not a candidate there
                    self.progress(f"skipped {candidate.name}: {exc}")
                    continue
                raise
            results.append((result, oof, candidate))
        plain_candidate = Candidate(Strategy(kind="rubric" if self.task.kind == "rubric" else "pair"))
        # best figure; among equal figures the cheaper, then the earlier listed (the plain verdict first)
        ranked = sorted(
            enumerate(results),
            key=lambda e: (-(e[1][0].cv if e[1][0].cv is not None else -1), e[1][0].tokens_per_verdict, e[0]),
        )
        best_result, best_oof, best = ranked[0][1]
        self.progress(f"chose {best.name} (cross-validated {best_result.cv}); confirming on the held-apart items")
        strategy = self.fit(best, self.train)
        if self.task.kind == "rubric":
            strategy = strategy.model_copy(update={"thresholds": self._thresholds(best_oof)})
        base = self._base_scores(best.base, self.held, best.probe) if (best.length or best.probe) else None
        held_rows = self.rows_of(self.held)
        chosen_scores = self.apply(best, strategy, self.held, base)
        plain_scores = self._base_scores(plain_candidate.base, self.held, False)
        chosen = self._held_apart(best.name, chosen_scores, held_rows, resamples)
        plain = self._held_apart("current", plain_scores, held_rows, resamples)
        difference = paired_statistic_difference(
            lambda idx: figure(self.task, select(held_rows, idx), plain_scores.p),
            lambda idx: figure(self.task, select(held_rows, idx), chosen_scores.p),
            len(held_rows),
            resamples,
            self.seed,
        )
        return TuneResult(
            kind=self.task.kind,
            metric=metric_name(self.task.kind),
            folds=self.folds,
            train_items=len(self.train),
            heldout_items=len(self.held),
            candidates=[r for r, _, _ in results],
            chosen=best.name,
            strategy=strategy,
            heldout=chosen,
            plain=plain,
            difference=difference,
            cost_ratio_tokens=_ratio(chosen.tokens_per_verdict, plain.tokens_per_verdict),
            cost_ratio_seconds=_ratio(chosen.seconds_per_verdict, plain.seconds_per_verdict),
            at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    def _thresholds(self, oof: dict[int, float]) -> dict[str, float]:
        """Per-criterion PASS thresholds fitted on the out-of-fold scores of the training rows."""
        out: dict[str, float] = {}
        for name in {row.criterion for row in self.task.rows}:
            rows = [r for r in self.rows_of(self.train) if self.task.rows[r].criterion == name and r in oof]
            if rows:
                out[name] = fit_threshold([oof[r] for r in rows], [self.task.rows[r].label for r in rows]).threshold
        return out

    def _held_apart(self, name: str, scored: Scored, rows: list[int], resamples: int) -> HeldApart:
        if self.task.kind == "rubric":
            kept = [r for r in rows if r in scored.p]
            value = auc_estimate(
                [scored.p[r] for r in kept], [self.task.rows[r].label for r in kept], resamples, self.seed
            )
        else:
            value = estimate(
                lambda idx: figure(self.task, select(rows, idx), scored.p), len(rows), resamples, self.seed
            )
        verdicts = max(1, len(rows))
        return HeldApart(
            strategy=name,
            figure=value,
            unscored=scored.errors,
            tokens_per_verdict=scored.tokens / verdicts,
            seconds_per_verdict=scored.seconds / verdicts,
        )


def _ratio(value: float, baseline: float) -> float | None:
    return value / baseline if baseline > 0 else None


def _logit(p: float) -> float:
    p = min(1 - 1e-6, max(1e-6, p))
    return math.log(p / (1 - p))


def _shift(p: float, amount: float) -> float:
    return 1 / (1 + math.exp(-(_logit(p) - amount)))


def fit_length_weight(p: Sequence[float], lengths: Sequence[float], labels: Sequence[bool]) -> float:
    """The weight w of log(len A / len B) that, subtracted from the judge's logit, best fits the labels (a
    one-parameter logistic regression with the judge's logit as offset, by Newton's method, lightly penalised)."""
    w = 0.0
    for _ in range(50):
        gradient, curvature = 0.1 * w, 0.1
        for p_a, x, y in zip(p, lengths, labels, strict=True):
            q = 1 / (1 + math.exp(-max(-60.0, min(60.0, _logit(p_a) - w * x))))
            gradient += (q - float(y)) * -x
            curvature += q * (1 - q) * x * x
        step = gradient / curvature
        w -= step
        if abs(step) < 1e-9:
            break
    return w
