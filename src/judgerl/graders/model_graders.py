"""score_model and label_model graders through any judgerl backend (its ``generate`` method).

OpenAI asks the grader model for structured output ``{"steps": [{"description", "conclusion"}], "result"}``;
judgerl asks for the same JSON in the prompt (backends have no response_format) and reads it leniently: a JSON
object anywhere in the reply (fenced or not), or a bare number / bare label as the whole reply. The steps
become the rationale. The grader's system and developer messages become the judge's system message; the
user and assistant messages its user message, followed by the answer-format instruction.

Differences from OpenAI, stated rather than hidden: judgerl's backends decode greedily, so ``temperature``,
``top_p``, ``seed`` and ``reasoning_effort`` are not applied; ``max_completions_tokens`` caps the reply (at
most ``max_new_tokens``); the grader's ``model`` names the model only where the CLI was given no --model (see
cli/graders_cmd.py); a reply that cannot be read, a score outside ``range`` or a label outside ``labels`` is
unscored with the reason, where OpenAI scores a grader error 0. A score outside ``range`` is clamped to it, as
OpenAI's graders guide documents (the rationale says so). A model grader's reply is capped at
``max_new_tokens`` (default 256; the steps and a result fit well within it), so a judge that rambles costs
seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

from judgerl.graders.seams import JudgeBackend, JudgePrompt
from judgerl.graders.spec import LabelModelSpec, ScoreModelSpec
from judgerl.graders.templates import render

DEFAULT_MAX_NEW_TOKENS = 256
PARSE_ERROR, SERVER_ERROR = "model_grader_parse_error", "model_grader_server_error"
_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


class TokenTally(Protocol):
    """Where a model grader adds the tokens of its call (a judge's per-item usage)."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ModelVerdict:
    """``error_kind`` is OpenAI's /graders/run error flag for the failure (``model_grader_parse_error``, ...)."""

    reward: float | None
    rationale: str | None = None
    error: str | None = None
    result: float | str | None = None
    error_kind: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str | None = None


def _format_instruction(spec: ScoreModelSpec | LabelModelSpec) -> str:
    steps = '"steps": [{"description": "<what you checked>", "conclusion": "<what you found>"}]'
    if isinstance(spec, ScoreModelSpec):
        low, high = spec.range
        result = f'"result": <a number from {low:g} to {high:g}>'
    else:
        result = '"result": <one of ' + ", ".join(json.dumps(label) for label in spec.labels) + ">"
    return f"Answer with a JSON object only, in this form: {{{steps}, {result}}}"


def build_prompt(spec: ScoreModelSpec | LabelModelSpec, context: dict[str, Any]) -> JudgePrompt:
    """The judge prompt for one row; raises TemplateError when the row lacks a templated variable."""
    system: list[str] = []
    user: list[str] = []
    conversation = [m for m in spec.input if m.role in ("user", "assistant")]
    for message in spec.input:
        text = render(message.text(), context)
        if message.role in ("system", "developer"):
            system.append(text)
        elif len(conversation) == 1:
            user.append(text)
        else:
            user.append(f"[{message.role}]\n{text}")
    user.append(_format_instruction(spec))
    return JudgePrompt(system="\n\n".join(system), user="\n\n".join(user))


def json_object(text: str) -> dict[str, Any] | None:
    candidates = [text.strip(), *(m.group(1) for m in _FENCE.finditer(text))]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict):
            return value
    return None


def _rationale(reply: dict[str, Any]) -> str | None:
    steps = reply.get("steps")
    if not isinstance(steps, list):
        return None
    lines = []
    for step in steps:
        if isinstance(step, dict):
            description, conclusion = step.get("description", ""), step.get("conclusion", "")
            lines.append(f"{description}: {conclusion}".strip(": ") if conclusion else str(description))
        elif isinstance(step, str):
            lines.append(step)
    return "\n".join(line for line in lines if line) or None


def reply_excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:120] + ("…" if len(flat) > 120 else "")


def read_reply(spec: ScoreModelSpec | LabelModelSpec, text: str) -> ModelVerdict:
    """Turn a grader model's reply into a reward, or an unscored verdict with the reason."""
    reply = json_object(text)
    bare = text.strip().strip('"').strip()
    if reply is None or "result" not in reply:
        if isinstance(spec, ScoreModelSpec) and re.fullmatch(r"[-+]?\d+(\.\d+)?", bare):
            reply = {"result": float(bare)}
        elif isinstance(spec, LabelModelSpec) and bare in spec.labels:
            reply = {"result": bare}
        else:
            reason = f"the grader model's reply has no JSON 'result': '{reply_excerpt(text)}'"
            return ModelVerdict(None, error=reason, error_kind=PARSE_ERROR)
    rationale = _rationale(reply)
    result = reply["result"]
    if isinstance(spec, ScoreModelSpec):
        if isinstance(result, str):
            with contextlib.suppress(ValueError):
                result = float(result)
        if isinstance(result, bool) or not isinstance(result, int | float) or not math.isfinite(result):
            reason = f"the grader model's result {result!r} is not a number"
            return ModelVerdict(None, rationale, reason, error_kind=PARSE_ERROR)
        low, high = spec.range
        clamped = min(max(float(result), low), high)  # OpenAI's guide: a score outside range is clamped to it
        if clamped != result:
            note = f"(score {result:g} clamped to range [{low:g}, {high:g}])"
            rationale = f"{rationale}\n{note}" if rationale else note
        return ModelVerdict(clamped, rationale, result=float(result))
    label = str(result).strip()
    if label not in spec.labels:
        reason = f"the grader model's label '{reply_excerpt(label)}' is not among {spec.labels}"
        return ModelVerdict(None, rationale, reason, error_kind=PARSE_ERROR)
    return ModelVerdict(1.0 if label in spec.passing_labels else 0.0, rationale, result=label)


async def run_model_grader(
    spec: ScoreModelSpec | LabelModelSpec,
    context: dict[str, Any],
    backend: JudgeBackend | None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    usage: TokenTally | None = None,
) -> ModelVerdict:
    """The model grader's verdict; the call's tokens are added to ``usage`` (what a judge's budget is charged)."""
    if backend is None:
        reason = f"a {spec.type} grader needs a judge backend (--backend/--model)"
        return ModelVerdict(None, error=reason, error_kind=SERVER_ERROR)
    prompt = build_prompt(spec, context)
    limit = min(spec.sampling_params.token_limit() or max_new_tokens, max_new_tokens)
    generation = (await backend.agenerate([prompt], max_new_tokens=limit))[0]
    if usage is not None:
        usage.prompt_tokens += generation.prompt_tokens
        usage.completion_tokens += generation.completion_tokens
    if generation.error is not None or generation.text is None:
        reason = f"the grader model failed: {generation.error or 'no reply'}"
        verdict = ModelVerdict(None, error=reason, error_kind=SERVER_ERROR)
    else:
        verdict = read_reply(spec, generation.text)
    return dataclasses.replace(
        verdict,
        prompt_tokens=generation.prompt_tokens,
        completion_tokens=generation.completion_tokens,
        model=backend.model_id,
    )
