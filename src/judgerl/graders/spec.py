"""OpenAI grader JSON, as pydantic models: string_check, text_similarity, score_model, label_model, python, multi.

Shapes follow OpenAI's graders guide and the /fine_tuning/alpha/graders/run reference. Unknown fields are
rejected (a misspelt field would otherwise be silently ignored); every template is parsed when the grader is
loaded, so a bad one fails at once with the field that holds it. ``load_spec`` turns any mistake into one
line naming the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from judgerl.graders.expression import Formula, FormulaError
from judgerl.graders.seams import JudgerlError
from judgerl.graders.templates import TemplateError, check_reward_template, check_templates

METRICS = (
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
)
Metric = Literal[
    "cosine", "fuzzy_match", "bleu", "gleu", "meteor", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l"
]


class GraderSpecError(JudgerlError):
    """An invalid grader file or field."""


def _templated(value: str) -> str:
    try:
        check_templates(value)
    except TemplateError as exc:
        raise ValueError(str(exc)) from None
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""


class StringCheckSpec(_Spec):
    type: Literal["string_check"]
    input: str
    reference: str
    operation: Literal["eq", "ne", "like", "ilike"]

    _templates = field_validator("input", "reference")(_templated)


class TextSimilaritySpec(_Spec):
    type: Literal["text_similarity"]
    input: str
    reference: str
    evaluation_metric: Metric
    pass_threshold: float | None = None

    _templates = field_validator("input", "reference")(_templated)


#: media content parts OpenAI's score_model/label_model inputs take, and what grading each would need
_MEDIA_PARTS = {"input_image": "grading an image", "input_audio": "grading audio"}


class ContentPart(BaseModel):
    """A text content part; images and audio are rejected (judgerl's backends take text)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["input_text", "output_text", "text"]
    text: str

    _templates = field_validator("text")(_templated)


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: str | ContentPart | list[ContentPart]
    type: Literal["message"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _text_parts_only(cls, data: Any) -> Any:
        content = data.get("content") if isinstance(data, dict) else None
        parts = content if isinstance(content, list) else [content]
        for part in parts:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in _MEDIA_PARTS:
                raise ValueError(
                    f"content part type '{kind}' is not supported: judgerl's judge backends read text only, so "
                    f"{_MEDIA_PARTS[kind]} needs a multimodal judge, which judgerl does not have; put a text "
                    "description in the row (e.g. {{ item.image_description }}) and template that instead"
                )
        return data

    @field_validator("content")
    @classmethod
    def _content_templates(cls, value: str | ContentPart | list[ContentPart]) -> str | ContentPart | list[ContentPart]:
        if isinstance(value, str):
            _templated(value)
        return value

    def text(self) -> str:
        parts = self.content if isinstance(self.content, list) else [self.content]
        return "\n".join(part if isinstance(part, str) else part.text for part in parts)


class SamplingParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int | None = None
    top_p: float | None = None
    temperature: float | None = None
    max_completions_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None

    def token_limit(self) -> int | None:
        return self.max_completions_tokens or self.max_completion_tokens


class ScoreModelSpec(_Spec):
    type: Literal["score_model"]
    input: list[Message] = Field(min_length=1)
    model: str
    range: tuple[float, float] = (0.0, 1.0)
    pass_threshold: float | None = None
    sampling_params: SamplingParams = Field(default_factory=SamplingParams)

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError(f"must be [low, high] with low < high, got {list(value)}")
        return value


class LabelModelSpec(_Spec):
    type: Literal["label_model"]
    input: list[Message] = Field(min_length=1)
    model: str
    labels: list[str] = Field(min_length=2)
    passing_labels: list[str] = Field(min_length=1)
    sampling_params: SamplingParams = Field(default_factory=SamplingParams)

    @model_validator(mode="after")
    def _passing_subset(self) -> LabelModelSpec:
        unknown = [label for label in self.passing_labels if label not in self.labels]
        if unknown:
            raise ValueError(f"passing_labels {unknown} are not among labels {self.labels}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        return self


class PythonSpec(_Spec):
    type: Literal["python"]
    source: str = Field(min_length=1)
    image_tag: str | None = None
    pass_threshold: float | None = None

    @field_validator("source")
    @classmethod
    def _compiles(cls, value: str) -> str:
        if len(value.encode()) > 256 * 1024:
            raise ValueError("is larger than 256 kB (OpenAI's limit)")
        try:
            compile(value, "<grader>", "exec")
        except SyntaxError as exc:
            raise ValueError(f"is not valid Python ({exc.msg}, line {exc.lineno})") from None
        if "def grade" not in value:
            raise ValueError("must define grade(sample, item)")
        return value


class RewardPromptSpec(_Spec):
    """A SageMaker RLAIF reward prompt (a judgerl extension, not an OpenAI grader type): a template with
    ``{{ prompt }}``, ``{{ ground_truth }}`` and ``{{ response }}`` whose judge answers
    ``{"score": <number>, "reasoning": "..."}`` (graders/reward_prompt.py). ``range`` clamps the score when given;
    ``model`` names the judge only where the door was given none (as a score_model's does)."""

    type: Literal["reward_prompt"]
    template: str = Field(min_length=1)
    model: str = ""
    range: tuple[float, float] | None = None
    pass_threshold: float | None = None

    @field_validator("template")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        check_reward_template(value)
        return value


LeafSpec = Annotated[
    StringCheckSpec | TextSimilaritySpec | ScoreModelSpec | LabelModelSpec | PythonSpec | RewardPromptSpec,
    Field(discriminator="type"),
]


class MultiSpec(_Spec):
    type: Literal["multi"]
    graders: dict[str, LeafSpec] = Field(min_length=1)
    calculate_output: str

    @field_validator("graders", mode="before")
    @classmethod
    def _single_grader(cls, value: Any) -> Any:
        # the API reference also shows `graders` as one grader object: take it as {name: grader}
        if isinstance(value, dict) and "type" in value and isinstance(value.get("type"), str):
            return {str(value.get("name") or value["type"]): value}
        return value

    @model_validator(mode="after")
    def _formula(self) -> MultiSpec:
        try:
            Formula(self.calculate_output, set(self.graders))
        except FormulaError as exc:
            raise ValueError(f"calculate_output: {exc}") from None
        return self

    def formula(self) -> Formula:
        return Formula(self.calculate_output, set(self.graders))


GraderSpec = Annotated[
    StringCheckSpec | TextSimilaritySpec | ScoreModelSpec | LabelModelSpec | PythonSpec | RewardPromptSpec | MultiSpec,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(GraderSpec)
GRADER_TYPES = ("string_check", "text_similarity", "score_model", "label_model", "python", "reward_prompt", "multi")
#: a grader file with one of these suffixes is a SageMaker reward prompt template (plain text), not JSON
REWARD_PROMPT_SUFFIXES = (".txt", ".md", ".prompt")


def _field_path(location: tuple[Any, ...]) -> str:
    # drop the discriminator tags pydantic puts in the path (e.g. 'string_check' before the field)
    parts = [str(p) for p in location if str(p) not in GRADER_TYPES and not str(p).startswith("function-")]
    return ".".join(parts) or "grader"


def parse_spec(data: Any, source: str = "grader") -> GraderSpec:
    """A grader spec from parsed JSON; a mistake raises GraderSpecError with one line naming the field."""
    if isinstance(data, dict) and "grader" in data and "type" not in data:
        data = data["grader"]  # a whole /graders/run request body, or {"grader": {...}}
    if not isinstance(data, dict):
        raise GraderSpecError(f"{source}: a grader must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    if kind not in GRADER_TYPES:
        raise GraderSpecError(f"{source}: field 'type': must be one of {', '.join(GRADER_TYPES)}, got {kind!r}")
    nested = data.get("graders")
    if kind == "multi" and isinstance(nested, dict):
        for key, sub in nested.items():
            if isinstance(sub, dict) and sub.get("type") == "multi":
                raise GraderSpecError(f"{source}: field 'graders.{key}.type': a multi grader cannot contain a multi")
    try:
        spec: GraderSpec = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = _field_path(tuple(error["loc"]))
        if error["type"] == "missing":
            raise GraderSpecError(f"{source}: field '{field}' is missing") from None
        if error["type"] == "extra_forbidden":
            raise GraderSpecError(f"{source}: field '{field}' is not a field of a {kind} grader") from None
        if error["type"] == "union_tag_invalid":
            raise GraderSpecError(f"{source}: field '{field}.type': {error['msg']}") from None
        message = error["msg"].removeprefix("Value error, ")
        raise GraderSpecError(f"{source}: field '{field}': {message}") from None
    return spec


def load_spec(path: str | Path) -> GraderSpec:
    """Read a grader JSON file (the grader object itself, or ``{"grader": {...}}``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraderSpecError(f"{path}: grader file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderSpecError(f"{path}: cannot read the grader file ({exc})") from None
    if path.suffix.lower() in REWARD_PROMPT_SUFFIXES:
        return parse_spec({"type": "reward_prompt", "name": path.stem, "template": text}, str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraderSpecError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    return parse_spec(data, str(path))


def model_specs(spec: GraderSpec) -> list[ScoreModelSpec | LabelModelSpec | RewardPromptSpec]:
    """The graders in a spec that call a judge model (itself, or a multi grader's)."""
    leaves = list(spec.graders.values()) if isinstance(spec, MultiSpec) else [spec]
    return [leaf for leaf in leaves if isinstance(leaf, ScoreModelSpec | LabelModelSpec | RewardPromptSpec)]
