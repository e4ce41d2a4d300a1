"""The ``grpo`` section of a training config: any field of TRL's ``GRPOConfig``, typed by TRL's own annotations.

The sampling and length options judgerl reads itself are typed fields; every other option passes through to TRL
in ``trl_options``. Only the options the file sets reach ``GRPOConfig``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_serializer, model_validator

#: fields judgerl sets itself; the message says where to set them instead
_OWNED = {
    "output_dir": "set 'output_dir' at the top level",
    "reward_weights": "set 'reward.weight' and each check's or function's 'weight'",
    "seed": "set 'seed' at the top level",
}


@functools.cache
def _grpo_field_types() -> dict[str, Any]:
    from trl import GRPOConfig

    hints = typing.get_type_hints(GRPOConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(GRPOConfig) if f.init}


def validate_grpo(section: dict[str, Any], where: str = "grpo") -> dict[str, Any]:
    """Each key must be a GRPOConfig field with a value of its type; returns the validated values."""
    types = _grpo_field_types()
    validated: dict[str, Any] = {}
    for key, value in section.items():
        if key in _OWNED:
            raise ValueError(f"{where}.{key}: judgerl sets this; {_OWNED[key]}")
        if key not in types:
            close = difflib.get_close_matches(key, list(types), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else " (not a field of trl.GRPOConfig)"
            raise ValueError(f"{where}.{key}: unknown key{hint}")
        try:
            # lax: YAML reads 3e-5 as a string, which a float field accepts
            validated[key] = TypeAdapter(types[key]).validate_python(value)
        except ValidationError:
            expected = getattr(types[key], "__name__", str(types[key]))
            raise ValueError(f"{where}.{key}: expected {expected}, got {value!r}") from None
    return validated


class GrpoSettings(BaseModel):
    """``grpo`` in a training config: options of TRL's ``GRPOConfig``, written flat in the file.

    The options judgerl reads itself (the judge gate and held-out evaluation sample like training does) are typed
    fields with TRL's defaults; any other ``GRPOConfig`` field goes to ``trl_options`` after its name is checked
    against TRL's fields (a typo names the field and the closest option) and its value against TRL's annotation.
    Only the options the file sets reach ``GRPOConfig``; TRL's own defaults apply to the rest."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(default=-1, description="Training steps (TRL's -1: from the epochs).")
    max_completion_length: int | None = Field(default=256, description="Tokens per completion.")
    temperature: float = 1.0
    top_k: int | None = 0
    top_p: float = 1.0
    bf16: bool | None = Field(default=None, description="Unset: TRL's choice, but off on a machine without a GPU.")
    fp16: bool | None = None
    trl_options: dict[str, Any] = Field(default_factory=dict, description="Every other GRPOConfig option, as set.")

    @model_validator(mode="before")
    @classmethod
    def _from_flat_mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        validated = validate_grpo(data)
        typed = {name: value for name, value in validated.items() if name in _TYPED_GRPO}
        return {**typed, "trl_options": {k: v for k, v in validated.items() if k not in _TYPED_GRPO}}

    @model_serializer
    def _flat(self) -> dict[str, Any]:
        return self.arguments()

    def arguments(self) -> dict[str, Any]:
        """The options the file set, flat, for ``GRPOConfig(**...)``."""
        typed = {name: getattr(self, name) for name in _TYPED_GRPO if name in self.model_fields_set}
        return {**typed, **self.trl_options}

    def is_set(self, name: str) -> bool:
        return name in self.arguments()


_TYPED_GRPO = tuple(name for name in GrpoSettings.model_fields if name != "trl_options")
