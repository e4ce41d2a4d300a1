"""Samples to judge: JSONL rows of prompt, response(s), optional reference and metadata; and the one JSONL
reader that samples, grader rows and training data all use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from judgerl.errors import JudgerlError, SampleError


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str


Prompt = str | list[Message]


def clean_text(value: str) -> str:
    """Replace lone surrogates (e.g. from JSON '\\ud800') so tokenizers and SQLite never choke."""
    return value.encode("utf-8", errors="replace").decode("utf-8")


class Sample(BaseModel):
    """One response to judge against a rubric."""

    model_config = ConfigDict(extra="ignore")

    id: str
    prompt: Prompt
    response: str
    reference: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("id", "response", "reference")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        return None if value is None else clean_text(value)


class LabelledSample(Sample):
    """A sample with human or program labels per criterion, for calibration and validation."""

    labels: dict[str, bool]


class PairSample(BaseModel):
    """Two responses to the same prompt, to be compared side by side."""

    model_config = ConfigDict(extra="ignore")

    id: str
    prompt: Prompt
    response_a: str
    response_b: str
    reference: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("id", "response_a", "response_b", "reference")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        return None if value is None else clean_text(value)


def prompt_text(prompt: Prompt) -> str:
    """A prompt as plain text for the judge: a string as is, chat messages as 'role: content' lines."""
    if isinstance(prompt, str):
        return clean_text(prompt)
    return "\n\n".join(f"[{m.role}]\n{clean_text(m.content)}" for m in prompt)


def read_jsonl_objects(
    path: str | Path, error: type[JudgerlError] = JudgerlError, what: str = "file"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; invalid bytes become U+FFFD.

    A missing file, a line that is not JSON or not an object raises ``error`` naming the file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise error(f"{path}:{number}: each line must be a JSON object, got {type(row).__name__}")
        yield number, row


def _read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank JSONL line; invalid bytes become U+FFFD."""
    return read_jsonl_objects(path, SampleError, "samples file")


def _row_error(path: Path, number: int, exc: ValidationError) -> SampleError:
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "row"
    if error["type"] == "missing":
        return SampleError(f"{path}:{number}: field '{field}' is missing")
    message = error["msg"]
    return SampleError(f"{path}:{number}: field '{field}': {message}")


SampleT = TypeVar("SampleT", bound=Sample)
RowT = TypeVar("RowT", bound=BaseModel)  # Sample, LabelledSample or PairSample: each has an ``id``


def _load_rows(path: Path, model: type[RowT]) -> list[RowT]:
    """Validate each JSONL row as ``model`` (a missing id is the line number); a bad field or a repeated id
    raises SampleError naming the line."""
    rows: list[RowT] = []
    seen: dict[str, int] = {}
    for number, row in _read_rows(path):
        row.setdefault("id", str(number))
        try:
            item = model.model_validate(row)
        except ValidationError as exc:
            raise _row_error(path, number, exc) from None
        key: str = item.id  # type: ignore[attr-defined]
        if key in seen:
            raise SampleError(f"{path}:{number}: duplicate id '{key}' (first on line {seen[key]})")
        seen[key] = number
        rows.append(item)
    return rows


def load_samples(path: str | Path, model: type[SampleT] = Sample) -> list[SampleT]:  # type: ignore[assignment]
    """Read rubric samples; a missing or mistyped field raises SampleError naming the line and field."""
    return _load_rows(Path(path), model)


def load_labelled(path: str | Path) -> list[LabelledSample]:
    """Read samples with per-criterion Boolean labels (``"labels": {"criterion": true}``)."""
    return load_samples(path, LabelledSample)


def load_pairs(path: str | Path) -> list[PairSample]:
    """Read pairwise samples (rows with response_a and response_b)."""
    return _load_rows(Path(path), PairSample)
