"""A loaded OpenAI grader, ready to grade one (item, sample) pair: the API the doors call.

    grader = load_grader("grader.json", backend=backend)          # backend only for model graders
    result = grader.grade({"reference_answer": "Paris"}, "Paris")  # or await grader.agrade(...)
    result.reward, result.sub_rewards, result.rationale, result.unscored_reason

``sample`` is the model's output text (as /graders/run's ``model_sample``) or an already built sample
namespace ``{"output_text": ..., "output_json": ...}``. Where OpenAI scores a grader error 0 (a missing
template variable, a python grader that crashes or runs too long, an unreadable model grader reply, a
formula that divides by zero), judgerl returns ``reward=None`` with ``unscored_reason``, so a training door
can leave the sample out instead of teaching the policy from a broken grade.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judgerl.graders.embeddings import Embedder, EmbeddingError, cosine_similarity
from judgerl.graders.expression import FormulaEvaluationError
from judgerl.graders.metrics import MetricUnavailable, lexical_similarity
from judgerl.graders.model_graders import DEFAULT_MAX_NEW_TOKENS, TokenTally, run_model_grader
from judgerl.graders.model_sample import sample_namespace
from judgerl.graders.python_runner import PythonLimits, run_python_grader
from judgerl.graders.reward_prompt import run_reward_prompt
from judgerl.graders.seams import JudgeBackend, fan_out, run_sync
from judgerl.graders.spec import (
    GraderSpec,
    LabelModelSpec,
    MultiSpec,
    PythonSpec,
    RewardPromptSpec,
    ScoreModelSpec,
    StringCheckSpec,
    TextSimilaritySpec,
    load_spec,
    parse_spec,
)
from judgerl.graders.templates import TemplateError, render


@dataclass(frozen=True)
class GradeResult:
    """One grade. ``reward`` is None when the sample could not be scored; ``unscored_reason`` says why.

    ``sub_rewards`` holds a multi grader's sub-grader rewards by name (None for an unscored one), and
    ``sub_results`` each sub-grader's whole result; ``passed`` is set where the grader has a pass threshold or
    passing labels."""

    reward: float | None
    sub_rewards: dict[str, float | None] = field(default_factory=dict)
    rationale: str | None = None
    unscored_reason: str | None = None
    passed: bool | None = None
    sub_results: dict[str, GradeResult] = field(default_factory=dict)
    #: the threshold ``passed`` was decided at (a pass_threshold; None where none applies)
    threshold: float | None = None
    #: OpenAI's /graders/run error flag for why the row is unscored (``invalid_variable_error``, ...)
    error_kind: str | None = None
    #: a model grader's tokens by model: {"model": {"prompt_tokens", "completion_tokens", "total_tokens"}}
    token_usage: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"reward": self.reward}
        if self.sub_rewards:
            row["sub_rewards"] = self.sub_rewards
        if self.passed is not None:
            row["passed"] = self.passed
        if self.rationale:
            row["rationale"] = self.rationale
        if self.unscored_reason:
            row["unscored_reason"] = self.unscored_reason
        return row


def _unscored(reason: str, kind: str = "other_error") -> GradeResult:
    return GradeResult(reward=None, unscored_reason=reason, error_kind=kind)


def _usage(model: str | None, prompt_tokens: int, completion_tokens: int) -> dict[str, dict[str, int]]:
    if model is None:
        return {}
    total = prompt_tokens + completion_tokens
    return {model: {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": total}}


def merge_usage(results: Sequence[GradeResult]) -> dict[str, dict[str, int]]:
    """Token usage summed per model over several results (a multi grader's sub-graders, a batch of rows)."""
    merged: dict[str, dict[str, int]] = {}
    for result in results:
        for model, usage in result.token_usage.items():
            into = merged.setdefault(model, {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
            for key in into:
                into[key] += usage.get(key, 0)
    return merged


def _passed(reward: float, threshold: float | None) -> bool | None:
    return None if threshold is None else reward >= threshold


class Grader:
    """An OpenAI grader spec bound to what it needs to run: a judge backend for score_model/label_model, an
    embedder for cosine, and limits for python graders."""

    def __init__(
        self,
        spec: GraderSpec,
        backend: JudgeBackend | None = None,
        embedder: Embedder | None = None,
        python_limits: PythonLimits | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.embedder = embedder
        self.python_limits = python_limits or PythonLimits()
        self.max_new_tokens = max_new_tokens
        self._formula = spec.formula() if isinstance(spec, MultiSpec) else None

    @property
    def name(self) -> str:
        return self.spec.name or self.spec.type

    def grade(self, item: dict[str, Any], sample: str | dict[str, Any]) -> GradeResult:
        """Grade one pair (runs its own event loop; async callers use ``agrade``)."""
        return run_sync(self.agrade(item, sample))

    async def agrade(
        self, item: dict[str, Any], sample: str | dict[str, Any], usage: TokenTally | None = None
    ) -> GradeResult:
        """Grade one pair; a model grader adds its call's tokens to ``usage``."""
        context = {"item": item if isinstance(item, dict) else {}, "sample": sample_namespace(sample)}
        if self._formula is not None:
            assert isinstance(self.spec, MultiSpec)
            return await self._multi(self.spec, context, usage)
        return await self._leaf(self.spec, context, usage)

    async def agrade_many(
        self, pairs: Sequence[tuple[dict[str, Any], str | dict[str, Any]]], concurrency: int = 4
    ) -> list[GradeResult]:
        """Grade many pairs, at most ``concurrency`` at once, results in order."""

        async def one(pair: tuple[dict[str, Any], str | dict[str, Any]]) -> GradeResult:
            return await self.agrade(*pair)

        return await fan_out(pairs, one, concurrency)

    async def _multi(self, spec: MultiSpec, context: dict[str, Any], usage: TokenTally | None) -> GradeResult:
        names = list(spec.graders)
        results = await asyncio.gather(*(self._leaf(spec.graders[name], context, usage) for name in names))
        details = dict(zip(names, results, strict=True))
        sub = {name: result.reward for name, result in details.items()}
        rationales = [f"[{name}] {r.rationale}" for name, r in zip(names, results, strict=True) if r.rationale]
        rationale = "\n".join(rationales) or None
        assert self._formula is not None
        missing = [name for name in sorted(self._formula.used) if sub[name] is None]
        tokens = merge_usage(results)
        if missing:
            reasons = "; ".join(f"{name}: {results[names.index(name)].unscored_reason}" for name in missing)
            kind = results[names.index(missing[0])].error_kind or "other_error"
            reason = f"sub-grader unscored ({reasons})"
            return GradeResult(None, sub, rationale, reason, sub_results=details, error_kind=kind, token_usage=tokens)
        values = {name: value for name, value in sub.items() if value is not None}
        try:
            reward = self._formula.evaluate(values)
        except FormulaEvaluationError as exc:
            reason = f"calculate_output '{spec.calculate_output}': {exc}"
            return GradeResult(None, sub, rationale, reason, sub_results=details, error_kind="other_error")
        return GradeResult(reward, sub, rationale, sub_results=details, token_usage=tokens)

    async def _leaf(self, spec: GraderSpec, context: dict[str, Any], usage: TokenTally | None = None) -> GradeResult:
        try:
            if isinstance(spec, StringCheckSpec):
                return self._string_check(spec, context)
            if isinstance(spec, TextSimilaritySpec):
                return await self._text_similarity(spec, context)
            if isinstance(spec, ScoreModelSpec | LabelModelSpec | RewardPromptSpec):
                if isinstance(spec, RewardPromptSpec):
                    verdict = await run_reward_prompt(
                        spec.template, spec.range, context, self.backend, self.max_new_tokens
                    )
                    if usage is not None:  # what a judge's budget is charged, as run_model_grader adds it
                        usage.prompt_tokens += verdict.prompt_tokens
                        usage.completion_tokens += verdict.completion_tokens
                else:
                    verdict = await run_model_grader(spec, context, self.backend, self.max_new_tokens, usage)
                tokens = _usage(verdict.model, verdict.prompt_tokens, verdict.completion_tokens)
                if verdict.reward is None:
                    kind = verdict.error_kind or "other_error"
                    return GradeResult(
                        None, rationale=verdict.rationale, unscored_reason=verdict.error, error_kind=kind,
                        token_usage=tokens,
                    )  # fmt: skip
                threshold = spec.pass_threshold if not isinstance(spec, LabelModelSpec) else None
                if not isinstance(spec, LabelModelSpec):
                    passed = _passed(verdict.reward, threshold)
                else:
                    passed = verdict.reward == 1.0
                return GradeResult(
                    verdict.reward, rationale=verdict.rationale, passed=passed, threshold=threshold, token_usage=tokens
                )
            if isinstance(spec, PythonSpec):
                outcome = await run_python_grader(spec.source, context["sample"], context["item"], self.python_limits)
                if outcome.reward is None:
                    return _unscored(outcome.error or "the python grader gave no reward", "python_grader_runtime_error")
                passed = _passed(outcome.reward, spec.pass_threshold)
                return GradeResult(outcome.reward, passed=passed, threshold=spec.pass_threshold)
        except TemplateError as exc:
            return _unscored(f"template {exc}", "invalid_variable_error")
        raise TypeError(f"cannot grade with a nested {spec.type} grader")

    def _string_check(self, spec: StringCheckSpec, context: dict[str, Any]) -> GradeResult:
        text, reference = render(spec.input, context), render(spec.reference, context)
        if spec.operation == "eq":
            hit = text == reference
        elif spec.operation == "ne":
            hit = text != reference
        elif spec.operation == "like":
            hit = reference in text
        else:
            hit = reference.lower() in text.lower()
        return GradeResult(1.0 if hit else 0.0, passed=hit)

    async def _text_similarity(self, spec: TextSimilaritySpec, context: dict[str, Any]) -> GradeResult:
        text, reference = render(spec.input, context), render(spec.reference, context)
        metric = spec.evaluation_metric
        try:
            if metric == "cosine":
                if self.embedder is None:
                    return _unscored("cosine needs an embeddings endpoint (--embeddings-url)")
                first, second = await self.embedder.aembed([text, reference])
                score = cosine_similarity(first, second)
            else:
                score = await asyncio.to_thread(lexical_similarity, metric, text, reference)
        except MetricUnavailable as exc:
            return _unscored(f"{metric}: {exc}")
        except EmbeddingError as exc:
            return _unscored(f"cosine: {exc}")
        if not math.isfinite(score):
            return _unscored(f"{metric} gave {score}")
        return GradeResult(score, passed=_passed(score, spec.pass_threshold), threshold=spec.pass_threshold)


def load_grader(
    path: str | Path,
    backend: JudgeBackend | None = None,
    embedder: Embedder | None = None,
    python_limits: PythonLimits | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
) -> Grader:
    """Read and check a grader JSON file; a mistake raises GraderSpecError (one line naming file and field)."""
    return Grader(load_spec(path), backend, embedder, python_limits, max_new_tokens)


def grader_from_dict(data: Any, **options: Any) -> Grader:
    """A grader from an already parsed JSON object (e.g. a request body's ``grader``)."""
    return Grader(parse_spec(data, "grader"), **options)
