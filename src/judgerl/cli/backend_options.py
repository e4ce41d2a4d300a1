"""Options shared by every command that runs a judge (judge, calibrate, validate...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from judgerl.backends import backend_names
from judgerl.errors import JudgerlError, describe_validation_error
from judgerl.judges.spec import JudgeSpec

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_BACKEND = "transformers"


def judge_backend_options(function: F) -> F:
    """--backend, --model, --base-url, --region, --profile, --max-input-tokens, --backend-option."""
    options = [
        click.option(
            "--backend",
            envvar="JUDGERL_BACKEND",
            default=DEFAULT_BACKEND,
            show_default=True,
            help=f"Judge backend: {', '.join(backend_names())}, or another registered one. Env: JUDGERL_BACKEND.",
        ),
        click.option(
            "--model",
            "model",
            envvar="JUDGERL_MODEL",
            default=None,
            help="Judge model: a catalog name (`judgerl models list`), a local directory, a .gguf file, an "
            "HF id, or the server's/Bedrock's model name. Default: the catalog's default judge on the "
            "transformers backend; the openai and bedrock backends need one. "
            "Env: JUDGERL_MODEL.",
        ),
        click.option(
            "--base-url",
            "base_urls",
            multiple=True,
            envvar="JUDGERL_BASE_URL",
            help="OpenAI-compatible server URL (openai backend); repeat for load balancing and failover.",
        ),
        # no envvar: AWS_REGION would then reach backends that take no region; the bedrock backend reads
        # AWS_REGION / AWS_DEFAULT_REGION (and boto3 AWS_PROFILE) itself
        click.option("--region", default=None, help="AWS region (bedrock backend). Default: $AWS_REGION."),
        click.option("--profile", default=None, help="AWS profile (bedrock backend). Default: $AWS_PROFILE."),
        click.option(
            "--max-input-tokens",
            type=click.IntRange(min=256),
            default=None,
            help="Judge input budget; longer responses are cut in the middle with a visible marker.",
        ),
        click.option(
            "--backend-option",
            "backend_options",
            multiple=True,
            metavar="KEY=VALUE",
            help="Extra backend constructor option (repeatable), e.g. dtype=float32.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def no_tuned_option(function: F) -> F:
    """--no-tuned: ignore the way of asking `judgerl tune` saved for this rubric and judge."""
    return click.option(
        "--no-tuned",
        "no_tuned",
        is_flag=True,
        help="Ignore the way of asking `judgerl tune` saved for this rubric and judge model (<rubric>.tuned.json; "
        "pairs: $JUDGERL_HOME/tuned/pairwise.tuned.json): use the plain log-prob verdict.",
    )(function)


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
