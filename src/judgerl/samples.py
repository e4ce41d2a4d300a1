"""Samples to judge: JSONL rows of prompt, response(s), optional reference and metadata; and the one JSONL
reader that samples, grader rows and training data all use."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
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


def clean_value(value: Any) -> Any:
    """A parsed JSON value with every string (keys too) passed through ``clean_text``. Iterative: a body the JSON
    parser accepted, however deep, is cleaned without recursion (recursing failed past Python's limit)."""
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, (list, dict)):
        return value
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]  # (source, destination container, slot in it)
    while stack:
        source, target, slot = stack.pop()
        if isinstance(source, str):
            target[slot] = clean_text(source)
        elif isinstance(source, list):
            copy: list[Any] = [None] * len(source)
            target[slot] = copy
            stack.extend((item, copy, index) for index, item in enumerate(source))
        elif isinstance(source, dict):
            mapping: dict[Any, Any] = {}
            target[slot] = mapping
            for key, item in source.items():
                cleaned_key = clean_text(key) if isinstance(key, str) else key
                mapping[cleaned_key] = None  # keeps the key order
                stack.append((item, mapping, cleaned_key))
        else:
            target[slot] = source
    return root[0]


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


def row_error(path: Path, number: int, exc: ValidationError) -> SampleError:
    """A row that failed validation as one line naming the file, the line and the field (or the row's shape)."""
    error = exc.errors()[0]
    if not error["loc"]:  # the row's shape (a model validator), not one field
        return SampleError(f"{path}:{number}: {str(error['msg']).removeprefix('Value error, ')}")
    field = ".".join(str(p) for p in error["loc"])
    if error["type"] == "missing":
        return SampleError(f"{path}:{number}: field '{field}' is missing")
    message = error["msg"]
    return SampleError(f"{path}:{number}: field '{field}': {message}")


SampleT = TypeVar("SampleT", bound=Sample)
RowT = TypeVar("RowT", bound=BaseModel)  # a Sample, a PairSample or a labelled row: each has an ``id``


def load_rows(
    path: str | Path,
    model: type[RowT],
    *,
    default_id: Callable[[int], str] = str,
    check: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[tuple[int, RowT]]:
    """(line number, row) for each JSONL row validated as ``model``: the one reader of sample, pair and labelled
    rows. A missing id is ``default_id(line number)``; ``check(number, raw)`` may refuse a row first with its own
    message; a bad field or a repeated id raises SampleError naming the line."""
    path = Path(path)
    rows: list[tuple[int, RowT]] = []
    seen: dict[str, int] = {}
    for number, row in read_jsonl_objects(path, SampleError, "samples file"):
        row.setdefault("id", default_id(number))
        if check is not None:
            check(number, row)
        try:
            item = model.model_validate(row)
        except ValidationError as exc:
            raise row_error(path, number, exc) from None
        key: str = item.id  # type: ignore[attr-defined]
        if key in seen:
            raise SampleError(f"{path}:{number}: duplicate id '{key}' (first on line {seen[key]})")
        seen[key] = number
        rows.append((number, item))
    return rows


def load_samples(path: str | Path, model: type[SampleT] = Sample) -> list[SampleT]:  # type: ignore[assignment]
    """Read rubric samples; a missing or mistyped field raises SampleError naming the line and field."""
    return [row for _, row in load_rows(path, model)]


def load_labelled(path: str | Path) -> list[LabelledSample]:
    """Read samples with per-criterion Boolean labels (``"labels": {"criterion": true}``)."""
    return load_samples(path, LabelledSample)


def load_pairs(path: str | Path) -> list[PairSample]:
    """Read pairwise samples (rows with response_a and response_b)."""
    return [row for _, row in load_rows(path, PairSample)]
