"""A judge configuration to validate, and ``--compare`` overrides of it (``mode=generate,reason_first=false``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judgerl.backends import JudgeBackend
from judgerl.cli.backend_options import build_backend
from judgerl.errors import JudgerlError


def default_judge_model() -> str:
    """The model catalog's default judge (judgerl.models.catalog), by name."""
    try:
        from judgerl.models.catalog import DEFAULT_JUDGE
    except ImportError:
        return "qwen2.5-coder-0.5b"
    return str(DEFAULT_JUDGE)


class JudgeConfig(BaseModel):
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

    def with_overrides(self, text: str) -> JudgeConfig:
        """This configuration with ``key=value[,key=value]`` applied; a bad key or value is a one-line error."""
        updates: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in JudgeConfig.model_fields:
                raise JudgerlError(
                    f"--compare: '{part}' is not KEY=VALUE with KEY one of {', '.join(JudgeConfig.model_fields)}"
                )
            updates[key] = value.strip()
        if not updates:
            raise JudgerlError("--compare: give at least one KEY=VALUE, e.g. mode=generate or model=qwen2.5-coder-1.5b")
        try:
            return JudgeConfig.model_validate({**self.model_dump(), **updates})
        except ValidationError as exc:
            error = exc.errors()[0]
            raise JudgerlError(f"--compare: {error['loc'][0]}: {error['msg']}") from None


class BackendPool:
    """One backend per (backend, model), shared by the configurations that use it (a model loads once).

    ``shared`` are the other options of ``judgerl judge`` (base URLs, region, input budget, backend options)."""

    def __init__(self, **shared: Any) -> None:
        self.shared = shared
        self._backends: dict[tuple[str, str], JudgeBackend] = {}

    def get(self, config: JudgeConfig) -> JudgeBackend:
        key = (config.backend, config.model)
        if key not in self._backends:
            self._backends[key] = build_backend(config.backend, config.model, **self.shared)
        return self._backends[key]

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()
