"""The Amazon Nova RFT reward contract (Bedrock and SageMaker), shared by the Lambda handler and POST /v1/nova.

One parsing rule at every door (:func:`parse_lenient`): a bad sample comes back unscored and the rest of the
batch is scored; only a batch with nothing scorable is refused by the HTTP door (422 naming the field).

In: a JSON list of samples ``{"id", "messages": [..., {"role": "assistant", "content": <response>}],
"metadata": {...}}``. The policy's turn is role ``assistant`` (Bedrock, Nova 2, open-weight models) or
``nova_assistant`` (SageMaker HyperPod's request format); both are read as ``assistant``. An assistant turn whose
reply is tool calls (Nova 2 tool calling) is judged on those calls, written as JSON. The reference answer is
``metadata.reference_answer`` (Bedrock documentation) or a top-level
``reference_answer`` (SageMaker documentation, Nova SDK verifier); both are accepted, and the sample's metadata
carries it as sent under ``reference_answer`` (an OpenAI grader's ``item``).

Out: in input order, ``{"id", "aggregate_reward_score": <number>, "metrics_list": [{"name", "value", "type"}]}``
with one ``Reward`` metric per scored criterion and the ``Metric`` s ``unscored`` (1/0) and ``judge_latency_s``.
:func:`validate_nova_output` applies the Nova SDK's reward-verifier rules.

A batch is never silently neutral: :func:`enforce_scored_share` fails it (:class:`MostlyUnscored`: the Lambda
invocation fails, which AWS surfaces and retries; the HTTP door answers 503) when more than the policy's
``max_unscored_share`` of its samples are unscored, naming the reasons.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from judgerl.errors import describe_validation_error
from judgerl.judges.outcome import RewardOutcome, UnscoredPolicy
from judgerl.samples import Message, Sample, clean_text, clean_value
from judgerl.serve.contract import SampleProblem, UnscoredSamples, reference_text

#: roles the AWS pages show in a reward Lambda's messages, and the judgerl role each is read as
NOVA_ROLES: dict[str, Literal["system", "user", "assistant", "tool", "developer"]] = {
    "system": "system",
    "user": "user",
    "assistant": "assistant",
    "nova_assistant": "assistant",  # SageMaker HyperPod's request format marks the policy's reply so
    "tool": "tool",
    "developer": "developer",
}


class NovaMessage(BaseModel):
    """A chat turn. ``content`` is text, or OpenAI-style parts whose text parts are joined."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "nova_assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None

    @property
    def judgerl_role(self) -> Literal["system", "user", "assistant", "tool", "developer"]:
        return NOVA_ROLES[self.role]

    def text(self) -> str:
        if self.content is None or self.content == []:
            return json.dumps(self.tool_calls, ensure_ascii=False) if self.tool_calls else ""
        if isinstance(self.content, str):
            return self.content
        texts = (part.get("text") for part in self.content if part.get("type", "text") == "text")
        return "\n".join(text if isinstance(text, str) else str(text) for text in texts if text is not None)


class NovaSample(BaseModel):
    """One rollout to score, as Nova RFT sends it."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    messages: list[NovaMessage] = Field(min_length=1)
    metadata: dict[str, Any] | None = None
    reference_answer: Any = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class NovaMetric(BaseModel):
    name: str
    value: float
    type: Literal["Reward", "Metric"]


class NovaResult(BaseModel):
    id: str
    aggregate_reward_score: float
    metrics_list: list[NovaMetric]


def sample_from_nova(nova: NovaSample) -> Sample:
    """A judgerl Sample; raises ValueError naming the field when the rollout has no assistant response last."""
    *context, last = nova.messages
    if last.judgerl_role != "assistant":
        raise ValueError(
            f"messages[-1].role: the last message must be the assistant's response, got '{last.role}' "
            "(the policy's reply has role 'assistant' or 'nova_assistant')"
        )
    prompt = [Message(role=message.judgerl_role, content=clean_text(message.text())) for message in context]
    metadata = dict(nova.metadata or {})
    reference = nova.reference_answer if nova.reference_answer is not None else metadata.get("reference_answer")
    if reference is not None:  # kept as sent, so a grader's {{ item.reference_answer.x }} reads it (either shape)
        metadata["reference_answer"] = reference
    return Sample(
        id=nova.id,
        prompt=prompt or "",
        response=last.text(),
        reference=reference_text(reference),
        metadata=metadata,
    )


def cleaned(value: Any) -> Any:
    """Every string in a parsed JSON value with lone surrogates replaced, as clean_text does for one string: a
    rollout id or a message holding '\\ud800' is judged like any other text, not refused by validation."""
    return clean_value(value)


def parse_lenient(items: Sequence[Any]) -> list[Sample | SampleProblem]:
    """Every item becomes a Sample or a SampleProblem with its reason: one bad sample never fails the batch."""
    parsed: list[Sample | SampleProblem] = []
    for index, item in enumerate(items):
        raw_id = item.get("id") if isinstance(item, dict) else None
        # cleaned like every other text: a lone surrogate in a bad sample's id must not break the JSON answer
        sample_id = clean_text(str(raw_id)) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else ""
        if not isinstance(item, dict):
            parsed.append(SampleProblem(sample_id, f"sample {index}: expected an object, got {type(item).__name__}"))
            continue
        try:
            parsed.append(sample_from_nova(NovaSample.model_validate(cleaned(item))))
        except ValidationError as exc:
            parsed.append(SampleProblem(sample_id, f"sample {index}: {describe_validation_error(exc)}"))
        except ValueError as exc:
            parsed.append(SampleProblem(sample_id, f"sample {index}: {exc}"))
    return parsed


def nothing_scorable(items: Sequence[Any], parsed: Sequence[Sample | SampleProblem]) -> str | None:
    """For the HTTP door: when no item of the batch parses, the first item's problem as 'body[i].field: message'
    (the request is then a client error, 422); None when at least one sample can be scored."""
    if any(isinstance(item, Sample) for item in parsed):
        return None
    for index, item in enumerate(items):
        try:
            sample_from_nova(NovaSample.model_validate(cleaned(item)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
            return f"body[{index}]{where}: {str(first['msg']).removeprefix('Value error, ')}"
        except ValueError as exc:
            return f"body[{index}].{exc}"
    return "body: no sample can be scored"


class MostlyUnscored(UnscoredSamples):
    """A Nova batch with more unscored samples than the policy allows: the invocation (or request) fails."""

    def __init__(self, unscored: Sequence[tuple[str, str]], total: int, limit: float) -> None:
        super().__init__(unscored)
        counts = Counter(reason for _, reason in self.unscored).most_common(3)
        reasons = "; ".join(f"{_short(reason)} ({count}x)" for reason, count in counts)
        self.args = (
            f"{len(self.unscored)} of {total} samples unscored, more than max_unscored_share={limit:g} allows: "
            f"failing the batch so no job trains on placeholder rewards. Reasons: {reasons}",
        )


def _short(reason: str, limit: int = 100) -> str:
    """A reason cut for the one-line error (the full ones are in the exception's ``unscored`` and the logs)."""
    flat = " ".join(reason.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def enforce_scored_share(outcomes: Sequence[RewardOutcome], policy: UnscoredPolicy) -> None:
    """Raise :class:`MostlyUnscored` when the batch's share of unscored samples is above the policy's limit."""
    unscored = [(o.id, o.unscored_reason or "unscored") for o in outcomes if o.unscored]
    if outcomes and len(unscored) / len(outcomes) > policy.max_unscored_share:
        raise MostlyUnscored(unscored, len(outcomes), policy.max_unscored_share)


def nova_result(outcome: RewardOutcome) -> dict[str, Any]:
    """The Nova output record. Unscored criteria are left out of metrics_list (a metric value must be a number)."""
    metrics: list[dict[str, Any]] = [
        {"name": name, "value": value, "type": "Reward"}
        for name, value in outcome.criteria.items()
        if value is not None
    ]
    metrics.append({"name": "unscored", "value": 1.0 if outcome.unscored else 0.0, "type": "Metric"})
    metrics.append({"name": "judge_latency_s", "value": round(outcome.latency_s, 6), "type": "Metric"})
    return {"id": outcome.id, "aggregate_reward_score": outcome.reward, "metrics_list": metrics}


def validate_nova_output(results: Any) -> list[str]:
    """The Nova SDK reward verifier's output rules: an error message per violation (empty when valid)."""
    if not isinstance(results, list):
        return [f"Output: expected a list, got {type(results).__name__}"]
    errors: list[str] = []
    for idx, result in enumerate(results):
        if not isinstance(result, dict):
            errors.append(f"Output {idx}: Expected dict, got {type(result).__name__}")
            continue
        if "id" not in result:
            errors.append(f"Output {idx}: Missing 'id' field")
        score = result.get("aggregate_reward_score")
        if "aggregate_reward_score" not in result:
            errors.append(f"Output {idx}: Missing 'aggregate_reward_score' field")
        elif not isinstance(score, (int, float)) or isinstance(score, bool):
            errors.append(f"Output {idx}: 'aggregate_reward_score' should be a number")
        if "metrics_list" in result:
            errors.extend(_metric_errors(idx, result["metrics_list"]))
    return errors


def _metric_errors(idx: int, metrics: Any) -> list[str]:
    if not isinstance(metrics, list):
        return [f"Output {idx}: 'metrics_list' should be a list"]
    errors = []
    for m_idx, metric in enumerate(metrics):
        where = f"Output {idx}, metric {m_idx}"
        if not isinstance(metric, dict):
            errors.append(f"{where}: Expected dict, got {type(metric).__name__}")
            continue
        if not isinstance(metric.get("name"), str):
            errors.append(f"{where}: 'name' should be a string")
        value = metric.get("value")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(f"{where}: 'value' should be a number")
        if metric.get("type") not in ("Metric", "Reward"):
            errors.append(f"{where}: 'type' should be 'Metric' or 'Reward', got {metric.get('type')!r}")
    return errors
