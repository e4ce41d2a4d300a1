"""Cheap deterministic reward checks, configured per training run.

Each check looks at one response (and its dataset row) and returns a value in [0, 1], or None when it does not
apply to that row. ``role: gate`` checks run before the judge: a response that fails one gets reward 0 and is
not sent to the judge. ``role: reward`` checks add ``weight * value`` to the reward as their own TRL reward
function, so they show up separately in the logs. ``role: monitor`` checks are measured and logged on every
reply and given to the monitors (``monitors``), and never touch the reward.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from judgerl.checks import ifeval
from judgerl.checks.language import guess_language


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    #: gate: 0 for a failing reply, never judged; reward: its own weighted part of the reward; monitor: measured,
    #: logged and given to the monitors, never in the reward (an independent measure of the run)
    role: Literal["gate", "reward", "monitor"] = "gate"
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)

    def evaluate(self, response: str, row: dict[str, Any]) -> float | None:
        raise NotImplementedError


class RegexCheck(_Check):
    """Passes when ``pattern`` is found (``must_match: true``) or not found (``must_match: false``)."""

    type: Literal["regex"]
    pattern: str
    must_match: bool = True
    ignore_case: bool = False
    multiline: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    def evaluate(self, response: str, row: dict[str, Any]) -> float | None:
        flags = (re.I if self.ignore_case else 0) | (re.M if self.multiline else 0)
        found = re.search(self.pattern, response, flags) is not None
        return float(found == self.must_match)


class LengthCheck(_Check):
    """Word (``\\w+``) or character count within bounds."""

    type: Literal["length"]
    unit: Literal["words", "chars"] = "words"
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> LengthCheck:
        if self.min is None and self.max is None:
            raise ValueError("set min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def evaluate(self, response: str, row: dict[str, Any]) -> float | None:
        size = ifeval.count_words(response) if self.unit == "words" else len(response)
        low = self.min if self.min is not None else 0
        high = self.max if self.max is not None else size
        return float(low <= size <= high)


class JsonSchemaCheck(_Check):
    """The response (fences allowed) is JSON valid against a schema given inline or as a file."""

    type: Literal["json_schema"]
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    schema_file: Path | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_schema(self) -> JsonSchemaCheck:
        if (self.json_schema is None) == (self.schema_file is None):
            raise ValueError("give exactly one of 'schema' (inline) or 'schema_file'")
        return self

    def loaded_schema(self) -> dict[str, Any]:
        if self.json_schema is not None:
            return self.json_schema
        assert self.schema_file is not None
        loaded: dict[str, Any] = json.loads(self.schema_file.read_text(encoding="utf-8"))
        return loaded

    def evaluate(self, response: str, row: dict[str, Any]) -> float | None:
        import jsonschema

        text = response.strip()
        fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.S | re.I)
        try:
            value = json.loads(fenced.group(1) if fenced else text)
        except ValueError:
            return 0.0
        try:
            jsonschema.validate(value, self.loaded_schema())
        except jsonschema.ValidationError:
            return 0.0
        return 1.0


class LanguageCheck(_Check):
    """The response is in ``language`` (ISO 639-1), by a small script and stopword guess; None when unsure."""

    type: Literal["language"]
    language: str = Field(pattern=r"^[a-z]{2}$")

    def evaluate(self, response: str, row: dict[str, Any]) -> float | None:
        guess = guess_language(response)
        return None if guess is None else float(guess == self.language)


class IfevalCheck(_Check):
    """The fraction of the row's IFEval instructions followed (metadata ``instruction_id_list`` and ``kwargs``).

    A program reward: do not also use it as the independent measure of the same run."""

    type: Literal["ifeval"]

    def evaluate(self, response: str, row: dict[str, Any]) -> float | None:
        metadata = row.get("metadata") or {}
        ids = metadata.get("instruction_id_list")
        if not ids:
            return None
        results = [
            r for r in ifeval.check_row(ids, metadata.get("kwargs") or [{}] * len(ids), response) if r is not None
        ]
        return sum(results) / len(results) if results else None


class InjectionCheck(_Check):
    """Passes when the deterministic prompt-injection detector (judgerl.judges.injection) finds nothing of high
    severity: text addressed to the judge, verdict claims, rubric overrides, delimiter look-alikes, chat-template
    tokens, hidden tag characters. As a gate, a response that tries to talk the judge into a PASS gets 0 and is never
    shown to the judge."""

    type: Literal["injection"]

    def evaluate(self, response: str, row: dict[str, Any]) -> float | None:
        from judgerl.judges.injection import is_injection

        return 0.0 if is_injection(response) else 1.0


class RefusalCheck(_Check):
    """The reply does what the row's ``column`` (metadata) expects: ``refuse`` (declines, by refusal phrases at its
    start, judgerl.checks.refusal) or ``comply`` (answers); n/a on rows with neither. An approximation meant as an
    independent measure (``role: monitor``): a policy rewarded by it learns the phrases."""

    type: Literal["refusal"]
    column: str = "expected"

    def evaluate(self, response: str, row: dict[str, Any]) -> float | None:
        from judgerl.checks.refusal import check

        expected = (row.get("metadata") or {}).get(self.column)
        result = check(str(expected), response) if expected is not None else None
        return None if result is None else float(result)


RuleCheck = Annotated[
    RegexCheck | LengthCheck | JsonSchemaCheck | LanguageCheck | IfevalCheck | InjectionCheck | RefusalCheck,
    Field(discriminator="type"),
]
