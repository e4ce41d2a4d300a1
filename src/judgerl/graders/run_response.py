"""A grade in the response shape of OpenAI's ``POST /v1/fine_tuning/alpha/graders/run``.

OpenAI's API reference (RunGraderResponse, as the openai SDKs type it) answers
``{"reward", "metadata": {"name", "type", "errors": {<flag>: bool, ...}, "execution_time", "scores",
"token_usage", "sampled_model_name"}, "sub_rewards", "model_grader_token_usage_per_model"}``. judgerl fills every
field and sets the error flag that names why a row is unscored. One difference, kept on purpose: where OpenAI
answers an errored row with reward 0, judgerl answers ``reward: null`` with the flag and ``unscored_reason``
(a 0 would read as "wrong answer" to a trainer).
"""

from __future__ import annotations

from typing import Any

from judgerl.graders.grader import GradeResult
from judgerl.graders.spec import GraderSpec

#: every error flag of RunGraderResponse.metadata.errors (booleans), and the detail fields beside them
ERROR_FLAGS = (
    "formula_parse_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
    "invalid_variable_error",
    "other_error",
    "python_grader_server_error",
    "python_grader_runtime_error",
    "model_grader_server_error",
    "model_grader_refusal_error",
    "model_grader_parse_error",
)
_DETAILS = {
    "python_grader_runtime_error": "python_grader_runtime_error_details",
    "model_grader_server_error": "model_grader_server_error_details",
}


def errors_of(result: GradeResult) -> dict[str, Any]:
    """The ``metadata.errors`` object: every flag false but the one that says why the row is unscored."""
    errors: dict[str, Any] = dict.fromkeys(ERROR_FLAGS, False)
    errors.update({"python_grader_server_error_type": None, **dict.fromkeys(_DETAILS.values())})
    if result.reward is None:
        kind = result.error_kind if result.error_kind in ERROR_FLAGS else "other_error"
        errors[kind] = True
        if kind in _DETAILS:
            errors[_DETAILS[kind]] = result.unscored_reason
    return errors


def run_response(spec: GraderSpec, result: GradeResult, execution_time: float) -> dict[str, Any]:
    """The /graders/run response for one grade; judgerl's ``passed``, ``threshold``, ``rationale`` and
    ``unscored_reason`` ride in ``metadata`` beside OpenAI's fields."""
    usage = result.token_usage
    total = sum(model_usage.get("total_tokens", 0) for model_usage in usage.values())
    metadata: dict[str, Any] = {
        "name": spec.name or spec.type,
        "type": spec.type,
        "errors": errors_of(result),
        "execution_time": round(execution_time, 6),
        "scores": dict(result.sub_rewards),
        "token_usage": total if usage else None,
        "sampled_model_name": next(iter(usage), None),
        "passed": result.passed,
        "threshold": result.threshold,
        "rationale": result.rationale,
        "unscored_reason": result.unscored_reason,
    }
    return {
        "reward": result.reward,
        "metadata": metadata,
        "sub_rewards": dict(result.sub_rewards),
        "model_grader_token_usage_per_model": usage,
    }
