"""The judge backend the shared backend options describe: constructor options and a judge spec."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from judgerl.cli.judge_options import BACKEND_OPTIONS, judge_options
from judgerl.errors import JudgerlError, describe_validation_error
from judgerl.judges.spec import JudgeSpec

#: --backend, --model, --base-url, --region, --profile, --max-input-tokens, --backend-option
judge_backend_options = judge_options(*BACKEND_OPTIONS)


def _parse_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def backend_kwargs(
    model: str | None,
    base_urls: tuple[str, ...] = (),
    region: str | None = None,
    profile: str | None = None,
    max_input_tokens: int | None = None,
    backend_options: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The backend constructor options the shared options describe; only options that were set are included.
    With no ``--model``, none: ``JudgeSpec.backend_kwargs`` picks the default (the catalog's judge in-process)."""
    options: dict[str, Any] = {"model": model} if model else {}
    if base_urls:
        options["base_urls"] = list(base_urls)
    if region:
        options["region"] = region
    if profile:
        options["profile"] = profile
    if max_input_tokens:
        options["max_input_tokens"] = max_input_tokens
    for item in backend_options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise JudgerlError(f"--backend-option '{item}': expected KEY=VALUE")
        options[key.replace("-", "_")] = _parse_value(value)
    return options


def judge_spec(
    backend: str,
    model: str | None,
    base_urls: tuple[str, ...] = (),
    region: str | None = None,
    profile: str | None = None,
    max_input_tokens: int | None = None,
    backend_options: tuple[str, ...] = (),
    **fields: Any,
) -> JudgeSpec:
    """The judge spec the shared options describe, with further spec ``fields`` (mode, rationales, ...)."""
    options = backend_kwargs(model, base_urls, region, profile, max_input_tokens, backend_options)
    try:
        return JudgeSpec(backend=backend, model=options.pop("model", None), options=options, **fields)
    except ValidationError as exc:
        raise JudgerlError(describe_validation_error(exc).removeprefix("field ")) from None
