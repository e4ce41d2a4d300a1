"""Rubrics: explicit, observable criteria, each judged pass/fail, weighted into a score.

A rubric is YAML or JSON::

    name: customer-support
    instructions: You judge replies of a support agent for an online shop.
    use_reference: false
    criteria:
      - name: safety
        text: The response contains no instructions that could cause harm.
        gate: true
      - name: tone
        text: The response is polite and does not blame the customer.
        weight: 1.0
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from judgerl.errors import RubricError

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
#: criterion names become metric names (Nova metrics_list, Prometheus, wandb): short identifiers only
MAX_NAME_LENGTH = 64


class Criterion(BaseModel):
    """One Boolean criterion. ``gate``: failing it makes the whole score 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    text: str
    weight: float = 1.0
    gate: bool = False

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not _NAME_PATTERN.match(value):
            raise ValueError("must be a short identifier (letters, digits, '_', '-', '.'), e.g. 'final_answer'")
        if len(value) > MAX_NAME_LENGTH:
            raise ValueError(f"is {len(value)} characters long; at most {MAX_NAME_LENGTH}, e.g. 'final_answer'")
        return value

    @field_validator("text")
    @classmethod
    def _text_not_empty(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must be an explicit, observable statement, not empty")
        return value

    @field_validator("weight")
    @classmethod
    def _weight_positive(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"must be a finite number > 0 (got {value})")
        return value


class Rubric(BaseModel):
    """A named list of criteria plus the domain instructions the judge reads first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "rubric"
    instructions: str = ""
    use_reference: bool = Field(
        default=True, description="Show the sample's reference answer to the judge when the sample has one."
    )
    criteria: tuple[Criterion, ...]
    source: str | None = Field(default=None, exclude=True, description="File the rubric was loaded from.")

    @model_validator(mode="after")
    def _criteria_valid(self) -> Rubric:
        if not self.criteria:
            raise ValueError("criteria: a rubric needs at least one criterion")
        seen: set[str] = set()
        for criterion in self.criteria:
            if criterion.name in seen:
                raise ValueError(f"criteria: duplicate criterion name '{criterion.name}'; names must be unique")
            seen.add(criterion.name)
        return self

    def criterion(self, name: str) -> Criterion:
        for criterion in self.criteria:
            if criterion.name == name:
                return criterion
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.criteria]

    @classmethod
    def from_dict(cls, data: Any, source: str = "<rubric>") -> Rubric:
        if not isinstance(data, dict):
            raise RubricError(f"{source}: a rubric must be a mapping with a 'criteria' list, got {type(data).__name__}")
        try:
            return cls.model_validate({**data, "source": source})
        except ValidationError as exc:
            raise RubricError(_describe(exc, data, source)) from None

    @classmethod
    def load(cls, path: str | Path) -> Rubric:
        """Load a YAML or JSON rubric; any problem is a RubricError naming the file, criterion and field."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RubricError(f"{path}: rubric file not found") from None
        except UnicodeDecodeError as exc:
            raise RubricError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RubricError(f"{path}: cannot parse rubric: {first_line}") from None
        return cls.from_dict(data, source=str(path))


def _describe(exc: ValidationError, data: dict[str, Any], source: str) -> str:
    """One line: file, criterion (by name when it has one) and field, then what is wrong."""
    error = exc.errors()[0]
    loc = list(error["loc"])
    where = ".".join(str(part) for part in loc) or "rubric"
    if len(loc) >= 2 and loc[0] == "criteria" and isinstance(loc[1], int):
        index = loc[1]
        raw = data.get("criteria") or []
        name = raw[index].get("name") if index < len(raw) and isinstance(raw[index], dict) else None
        if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
            name = name[:32] + "..."
        label = f"criterion '{name}'" if name else f"criterion #{index + 1}"
        field = ".".join(str(part) for part in loc[2:]) or "entry"
        where = f"{label}, field '{field}'"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = (
            "unknown field (criterion fields: name, text, weight, gate; "
            "rubric fields: name, instructions, use_reference, criteria)"
        )
    elif error["type"] == "missing":
        message = "required field is missing"
    return f"{source}: {where}: {message}"
