"""SageMaker RLAIF reward prompts: a judge template with ``{{ prompt }}``, ``{{ ground_truth }}`` and
``{{ response }}``, whose judge answers ``{"score": <number>, "reasoning": "..."}``.

Such a prompt is a grader like any other (``type: reward_prompt``, or a ``.txt`` / ``.md`` / ``.prompt`` file
given wherever a grader file is), so it scores at every door. Its three variables come from the row:

- ``prompt``: the item's ``prompt`` (every door puts the prompt's text there);
- ``ground_truth``: the item's ``ground_truth``, else ``reference``, else ``reference_answer`` (Nova's field);
  a row with none of them is unscored when the template uses it;
- ``response``: the sample's text.

The reply is read leniently (a JSON object anywhere in it, fenced or not); a reply without a numeric ``score``
is unscored with the reply quoted. ``reasoning`` becomes the rationale. With a ``range`` the score is clamped to
it; without one it is the reward as the judge gave it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from judgerl.graders.model_graders import PARSE_ERROR, SERVER_ERROR, ModelVerdict, json_object, reply_excerpt
from judgerl.graders.seams import JudgeBackend, JudgePrompt
from judgerl.graders.templates import TemplateError, as_text

GROUND_TRUTH_FIELDS = ("ground_truth", "reference", "reference_answer")
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
FORMAT = 'Answer with a JSON object only, in this form: {"score": <a number>, "reasoning": "<why>"}'


def _ground_truth(item: dict[str, Any]) -> Any:
    return next((item[key] for key in GROUND_TRUTH_FIELDS if item.get(key) is not None), None)


def build_reward_prompt(template: str, item: dict[str, Any], sample: dict[str, Any]) -> JudgePrompt:
    """The judge prompt for one row; raises TemplateError when the row lacks a variable the template uses."""
    values = {"prompt": item.get("prompt"), "ground_truth": _ground_truth(item), "response": sample["output_text"]}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if values[name] is None:
            fields = " / ".join(f"item.{f}" for f in GROUND_TRUTH_FIELDS) if name == "ground_truth" else "item.prompt"
            raise TemplateError(f"'{{{{ {name} }}}}': the row has no {name} ({fields})")
        return as_text(values[name])

    text = _PLACEHOLDER.sub(fill, template)
    if "json" not in text.lower():  # a template that already says how to answer keeps its own wording
        text = f"{text}\n\n{FORMAT}"
    return JudgePrompt(system="", user=text)


def read_score(text: str, score_range: tuple[float, float] | None) -> ModelVerdict:
    """``{"score", "reasoning"}`` from a judge's reply, or an unscored verdict quoting it."""
    reply = json_object(text)
    score = reply.get("score") if reply is not None else None
    if isinstance(score, str):
        try:
            score = float(score)
        except ValueError:
            score = None
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        reason = f"the judge's reply has no numeric 'score': '{reply_excerpt(text)}'"
        return ModelVerdict(None, error=reason, error_kind=PARSE_ERROR)
    reasoning = reply.get("reasoning") if reply is not None else None
    rationale = reasoning if isinstance(reasoning, str) and reasoning.strip() else None
    value = float(score)
    if score_range is not None:
        low, high = score_range
        value = min(max(value, low), high)
    return ModelVerdict(value, rationale, result=float(score))


async def run_reward_prompt(
    template: str,
    score_range: tuple[float, float] | None,
    context: dict[str, Any],
    backend: JudgeBackend | None,
    max_new_tokens: int,
) -> ModelVerdict:
    if backend is None:
        return ModelVerdict(
            None, error="a reward prompt needs a judge backend (--backend/--model)", error_kind=SERVER_ERROR
        )
    prompt = build_reward_prompt(template, context["item"], context["sample"])
    generation = (await backend.agenerate([prompt], max_new_tokens=max_new_tokens))[0]
    if generation.error is not None or generation.text is None:
        reason = f"the judge failed: {generation.error or 'no reply'}"
        verdict = ModelVerdict(None, error=reason, error_kind=SERVER_ERROR)
    else:
        verdict = read_score(generation.text, score_range)
    return ModelVerdict(
        verdict.reward,
        verdict.rationale,
        verdict.error,
        verdict.result,
        verdict.error_kind,
        generation.prompt_tokens,
        generation.completion_tokens,
        backend.model_id,
    )
