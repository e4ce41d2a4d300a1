"""A judge variant to validate (the part of a :class:`JudgeSpec` ``--compare`` may vary), and overrides of it
(``mode=generate,reason_first=false``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judgerl.backends import JudgeBackend
from judgerl.errors import JudgerlError
from judgerl.judges.spec import JudgeSpec, default_judge_model

__all__ = ["BackendPool", "JudgeVariant", "default_judge_model"]


class JudgeVariant(BaseModel):
    """What ``judgerl judge`` would run: backend, model, mode; plus the generate-mode reasoning order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = "transformers"
    model: str = Field(default_factory=default_judge_model)
    mode: Literal["logprob", "generate"] = "logprob"
    reason_first: bool = True

    @property
    def label(self) -> str:
        order = "" if self.mode == "logprob" else (", reason first" if self.reason_first else ", verdict first")
        return f"{self.model} ({self.backend}, {self.mode}{order})"

    def spec(self, **fields: Any) -> JudgeSpec:
        """The judge spec of this variant, with further spec ``fields`` (backend options, concurrency...)."""
        return JudgeSpec(
            backend=self.backend, model=self.model, mode=self.mode, reason_first=self.reason_first, **fields
        )

    def with_overrides(self, text: str) -> JudgeVariant:
        """This configuration with ``key=value[,key=value]`` applied; a bad key or value is a one-line error."""
        updates: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in JudgeVariant.model_fields:
                raise JudgerlError(
                    f"--compare: '{part}' is not KEY=VALUE with KEY one of {', '.join(JudgeVariant.model_fields)}"
                )
            updates[key] = value.strip()
        if not updates:
            raise JudgerlError("--compare: give at least one KEY=VALUE, e.g. mode=generate or model=qwen2.5-coder-1.5b")
        try:
            return JudgeVariant.model_validate({**self.model_dump(), **updates})
        except ValidationError as exc:
            error = exc.errors()[0]
            raise JudgerlError(f"--compare: {error['loc'][0]}: {error['msg']}") from None


class BackendPool:
    """One backend per (backend, model), shared by the configurations that use it (a model loads once).

    ``options`` are the backend's other constructor options (base URLs, region, input budget...)."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self._backends: dict[tuple[str, str], JudgeBackend] = {}

    def get(self, config: JudgeVariant) -> JudgeBackend:
        key = (config.backend, config.model)
        if key not in self._backends:
            self._backends[key] = config.spec(options=self.options).build_backend()
        return self._backends[key]

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()
