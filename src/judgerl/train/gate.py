"""The judge gate: before step 1, measure the judge on the policy's own outputs against a program checker.

The policy samples replies to training prompts the way GRPO will (temperature, completion length); the judge
scores them and an independent program checker (refusal phrases, IFEval, GSM8K final answers) labels them. The
AUC of the judge's score against the checker's verdicts, with a bootstrap 95% interval, says whether the judge
can rank what this policy writes; below ``min_auc`` the run is refused before any GPU-hour is spent. The same
bar applies to a labelled file (``judge.validation.labels``, train/gate_labels.py); ``summarise`` and ``decide``
are shared by both.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from judgerl.errors import JudgerlError
from judgerl.stats import auc_estimate, estimate, roc_auc
from judgerl.train.checkers import check_reply, choose_checker
from judgerl.train.config import GateSettings
from judgerl.train.data import PromptRow
from judgerl.train.judging import judge_rows, row_sample
from judgerl.train.policy import generate_replies
from judgerl.train.rubrics import RubricJudges, criteria_key

logger = logging.getLogger(__name__)
#: below this many passed (or failed) replies in a criterion, the gate's line says its figure is fragile
FEW_OF_ONE_OUTCOME = 5


class GroupAuc(BaseModel):
    """The judge's AUC on the replies judged under one set of criteria (GRPO ranks within such a group)."""

    criteria: str
    replies: int
    checker_passed: int
    auc: float | None
    low: float | None
    high: float | None
    mean_score_passed: float | None = Field(
        default=None, description="The judge's mean score on replies it should pass."
    )
    mean_score_failed: float | None = Field(
        default=None, description="The judge's mean score on replies it should fail."
    )


def interval_text(low: float | None, high: float | None) -> str:
    """' [low, high]' after a figure, or nothing where no interval was made."""
    return "" if low is None or high is None else f" [{low:.2f}, {high:.2f}]"


class PromptAgreement(BaseModel):
    """How the judge orders the replies to one prompt, pooled over the prompts whose replies had both outcomes."""

    prompts: int = Field(description="Prompts with more than one scored and checked reply.")
    prompts_with_both: int = Field(description="Of those, the prompts whose replies had both outcomes.")
    auc: float | None
    low: float | None
    high: float | None

    def clause(self) -> str:
        if self.auc is None:
            return (
                f"within each prompt, where GRPO compares replies: none of the {self.prompts} prompts had replies of "
                "both outcomes, so nothing here shows how the judge orders one prompt's replies"
            )
        return (
            "within each prompt, where GRPO compares replies: "
            f"AUC {self.auc:.2f}{interval_text(self.low, self.high)} on the "
            f"{self.prompts_with_both} of {self.prompts} prompts whose replies had both outcomes"
        )


class GateResult(BaseModel):
    checker: str = Field(description="The program checker, or 'labels' for a labelled file.")
    source: Literal["policy", "labels"] = "policy"
    labels_file: str | None = None
    replies: int
    checker_passed: int
    judge_auc: float | None = Field(
        description="Reply-weighted mean of the AUCs within each criteria group that has both outcomes."
    )
    low: float | None
    high: float | None
    min_auc: float
    passed: bool
    seconds: float
    pooled_auc: float | None = Field(
        default=None,
        description="AUC over all replies at once; misleading when criteria differ (it rewards telling the "
        "criteria apart, which GRPO never needs), so it is shown, not used.",
    )
    groups: list[GroupAuc] = Field(default_factory=list)
    within_prompt: PromptAgreement | None = Field(
        default=None,
        description="The judge's AUC among the replies to one prompt, where GRPO compares them; shown, not used for "
        "the bar (with two replies a prompt few prompts have both outcomes, so it rests on few pairs).",
    )
    items: list[dict[str, Any]] = Field(default_factory=list, exclude=True)

    @property
    def fewest_of_one_outcome(self) -> int | None:
        """The smallest count of passed or of failed replies in a criterion the AUC was measured on: with a few
        of one outcome the AUC and its bootstrap interval rest on those few (2 of 32 reads 1.00 [1.00, 1.00])."""
        counts = [min(g.checker_passed, g.replies - g.checker_passed) for g in self.groups if g.auc is not None]
        return min(counts) if counts else None

    @property
    def measured_on(self) -> str:
        if self.source == "labels":
            return f"{self.replies} labelled rows of {self.labels_file}"
        return f"{self.replies} of the policy's own replies"

    @property
    def yardstick(self) -> str:
        return "their labels" if self.source == "labels" else f"the {self.checker} checker"

    def line(self) -> str:
        if self.judge_auc is None:
            return (
                f"judge validation on {self.measured_on}: no AUC ({self.yardstick} passed {self.checker_passed}; "
                "both outcomes are needed within a criterion)"
            )
        groups = "; ".join(
            f"{g.auc:.2f} on {g.replies} judged '{g.criteria[:40]}'" for g in self.groups if g.auc is not None
        )
        line = (
            f"judge validation on {self.measured_on}: AUC {self.judge_auc:.2f}"
            f"{interval_text(self.low, self.high)} against {self.yardstick}, "
            f"within each criterion ({groups}; {self.yardstick} passed {self.checker_passed} of {self.replies}); "
            f"bar {self.min_auc:.2f}: {'pass' if self.passed else 'FAIL'}"
        )
        return "; ".join([line, *self.caveats()])

    def caveats(self) -> list[str]:
        """What qualifies the figure: too few replies of one outcome, the judge's ranking within each prompt, and
        criteria whose scores do not share a scale (the gate's line and the run's report both show them)."""
        out = []
        fewest = self.fewest_of_one_outcome
        if fewest is not None and fewest < FEW_OF_ONE_OUTCOME:
            out.append(
                f"but a criterion has only {fewest} {'reply' if fewest == 1 else 'replies'} of one outcome, too few "
                "for this figure to say much: "
                "measure on more replies (judge.validation.prompts, samples_per_prompt, or labels)"
            )
        if self.within_prompt is not None:
            out.append(self.within_prompt.clause())
        conflict = self.scale_conflict()
        if conflict is not None:
            failing, passing = conflict
            out.append(
                f"the criteria's scores differ in scale: replies that should fail '{failing.criteria[:40]}' average "
                f"{failing.mean_score_failed:.2f}, above replies that should pass '{passing.criteria[:40]}' "
                f"({passing.mean_score_passed:.2f}), so a mean score over both can rise as a policy gets worse: "
                "compare policies within each criterion (`judgerl select --rule calibrated` does, at thresholds "
                "from this gate)"
            )
        return out

    def scale_conflict(self) -> tuple[GroupAuc, GroupAuc] | None:
        """The pair of criteria where failing replies of one outscore, on average, passing replies of another by the
        widest margin; None where every criterion's passing replies outscore every criterion's failing ones."""
        worst: tuple[float, GroupAuc, GroupAuc] | None = None
        for failing in self.groups:
            for passing in self.groups:
                if failing is passing or failing.mean_score_failed is None or passing.mean_score_passed is None:
                    continue
                margin = failing.mean_score_failed - passing.mean_score_passed
                if margin > 0 and (worst is None or margin > worst[0]):
                    worst = (margin, failing, passing)
        return None if worst is None else (worst[1], worst[2])


def auc_interval(
    scores: Sequence[float], labels: Sequence[bool], resamples: int = 2000, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """AUC of ``scores`` for ``labels`` with a percentile bootstrap 95% interval over items."""
    if resamples <= 0:
        return roc_auc(scores, labels), None, None
    result = auc_estimate(scores, labels, resamples, seed)
    return result.value, result.low, result.high


def within_group_statistic(
    keys: Sequence[str], scores: Sequence[float], labels: Sequence[bool]
) -> Callable[[Any], float | None]:
    """The reply-weighted mean of the per-group AUCs (groups with both outcomes) on a resample of replies (item
    indices): ``keys[i]`` is reply i's group."""

    def weighted(indices: Any) -> float | None:
        chosen: dict[str, tuple[list[float], list[bool]]] = {}
        for i in indices:
            group = chosen.setdefault(keys[int(i)], ([], []))
            group[0].append(scores[int(i)])
            group[1].append(labels[int(i)])
        values = [(len(sc), a) for sc, lb in chosen.values() if (a := roc_auc(sc, lb)) is not None]
        total = sum(n for n, _ in values)
        return sum(n * a for n, a in values) / total if total else None

    return weighted


def within_group_auc(
    groups: dict[str, tuple[list[float], list[bool]]], resamples: int = 2000, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """Reply-weighted mean of the per-group AUCs (groups with both outcomes), with a bootstrap 95% interval over
    replies (judgerl.stats' engine)."""
    items = [(key, s, y) for key, (scores, labels) in groups.items() for s, y in zip(scores, labels, strict=True)]
    weighted = within_group_statistic([k for k, _, _ in items], [s for _, s, _ in items], [y for _, _, y in items])
    result = estimate(weighted, len(items), resamples, seed, 0.0)
    return result.value, result.low, result.high


def sample_replies(
    model: Any,
    tokenizer: Any,
    rows: Sequence[PromptRow],
    *,
    per_prompt: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    top_k: int = 0,
    top_p: float = 1.0,
    batch_size: int = 8,
) -> list[tuple[PromptRow, str]]:
    """Sampled replies, ``per_prompt`` to each row, as GRPO would draw them."""
    import torch

    torch.manual_seed(seed)
    sampling = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    replies = generate_replies(
        model,
        tokenizer,
        rows,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        sampling=sampling,
        per_prompt=per_prompt,
    )
    return [(rows[index // per_prompt], reply) for index, reply in enumerate(replies)]


def criteria_of(judges: RubricJudges, row: PromptRow) -> str:
    """The criteria a row's replies are judged under (GRPO compares replies within one such set)."""
    return criteria_key(judges.rubric_for(row_sample(row, "", row.prompt_id)))


def run_gate(
    settings: GateSettings,
    *,
    rows: Sequence[PromptRow],
    model: Any,
    tokenizer: Any,
    judges: RubricJudges,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    top_k: int = 0,
    top_p: float = 1.0,
    save_to: Path | None = None,
) -> GateResult:
    """Sample, judge, check and compare; raises JudgerlError below the bar when ``enforce`` is set."""
    started = time.perf_counter()
    chosen = rows[: settings.prompts]
    checker = choose_checker(chosen, settings.policy_checker or "auto")
    if checker == "none":
        raise JudgerlError(
            "judge.validation: no program checker fits these prompts; set judge.validation.checker "
            "(ifeval, gsm8k, refusal) or remove judge.validation"
        )
    pairs = sample_replies(
        model,
        tokenizer,
        chosen,
        per_prompt=settings.samples_per_prompt,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
        top_k=top_k,
        top_p=top_p,
    )
    verdicts = judge_rows(judges, [r for r, _ in pairs], [reply for _, reply in pairs])
    items: list[dict[str, Any]] = []
    for (row, reply), verdict in zip(pairs, verdicts, strict=True):
        items.append(
            {
                "prompt_id": row.prompt_id,
                "reply": reply,
                "judge_score": verdict.score,
                "checker": check_reply(row, reply, checker)[0],
                "criteria": criteria_of(judges, row),
            }
        )
    result = summarise(
        [(item["criteria"], item["judge_score"], item["checker"]) for item in items],
        checker=checker,
        min_auc=settings.min_auc,
        started=started,
        items=items,
        prompt_ids=[item["prompt_id"] for item in items],
    )
    return decide(result, settings.enforce, save_to)


def summarise(
    judged: Sequence[tuple[str, float | None, bool | None]],
    *,
    checker: str,
    min_auc: float,
    started: float,
    items: list[dict[str, Any]],
    source: Literal["policy", "labels"] = "policy",
    labels_file: str | None = None,
    prompt_ids: Sequence[str] | None = None,
) -> GateResult:
    """The gate's figures from (criteria, judge score, label) per item; unscored or unlabelled items are left out.
    With ``prompt_ids`` (one per item) it also measures the judge within each prompt's replies."""
    scores: list[float] = []
    labels: list[bool] = []
    groups: dict[str, tuple[list[float], list[bool]]] = {}
    for criteria, score, label in judged:
        if score is None or label is None:
            continue
        scores.append(score)
        labels.append(label)
        group = groups.setdefault(criteria, ([], []))
        group[0].append(score)
        group[1].append(label)
    value, low, high = within_group_auc(groups)
    group_aucs = []
    for criteria, (group_scores, group_labels) in groups.items():
        a, lo, hi = auc_interval(group_scores, group_labels)
        passed = [score for score, label in zip(group_scores, group_labels, strict=True) if label]
        failed = [score for score, label in zip(group_scores, group_labels, strict=True) if not label]
        group_aucs.append(
            GroupAuc(
                criteria=criteria,
                replies=len(group_scores),
                checker_passed=sum(group_labels),
                auc=a,
                low=lo,
                high=hi,
                mean_score_passed=sum(passed) / len(passed) if passed else None,
                mean_score_failed=sum(failed) / len(failed) if failed else None,
            )
        )
    return GateResult(
        checker=checker,
        source=source,
        labels_file=labels_file,
        replies=len(scores),
        checker_passed=sum(labels),
        judge_auc=value,
        low=low,
        high=high,
        min_auc=min_auc,
        passed=value is not None and value >= min_auc,
        seconds=time.perf_counter() - started,
        pooled_auc=auc_interval(scores, labels, resamples=0)[0],
        groups=group_aucs,
        within_prompt=None if prompt_ids is None else prompt_agreement(judged, prompt_ids),
        items=items,
    )


def prompt_agreement(
    judged: Sequence[tuple[str, float | None, bool | None]], prompt_ids: Sequence[str]
) -> PromptAgreement | None:
    """The judge's AUC within each prompt's replies; None where no prompt has more than one reply."""
    by_prompt: dict[str, tuple[list[float], list[bool]]] = {}
    for (_, score, label), prompt_id in zip(judged, prompt_ids, strict=True):
        if score is None or label is None:
            continue
        group = by_prompt.setdefault(prompt_id, ([], []))
        group[0].append(score)
        group[1].append(label)
    compared = {key: group for key, group in by_prompt.items() if len(group[0]) > 1}
    if not compared:
        return None
    value, low, high = within_group_auc(compared)
    both = sum(1 for _, labels in compared.values() if 0 < sum(labels) < len(labels))
    return PromptAgreement(prompts=len(compared), prompts_with_both=both, auc=value, low=low, high=high)


def decide(result: GateResult, enforce: bool, save_to: Path | None) -> GateResult:
    """Store and log the result; below the bar, raise JudgerlError when ``enforce`` is set."""
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        payload = {**result.model_dump(), "items": result.items}
        save_to.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    logger.info("%s", result.line())
    if not result.passed and enforce:
        value = result.judge_auc
        figure = "no AUC" if value is None else f"AUC {value:.2f} (within each criterion)"
        raise JudgerlError(
            f"judge validation: {figure} on {result.measured_on} is below the bar {result.min_auc:.2f}; "
            "this judge cannot rank this task: pick a stronger judge or rewrite the criteria "
            "(judge.validation.enforce: false trains anyway)"
        )
    return result
