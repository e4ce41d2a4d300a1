"""Click options that build a JudgeConfig and a failure policy, shared by the commands that run a judge."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from judgerl.errors import JudgerlError
from judgerl.judge_config import JudgeConfig
from judgerl.reward_contract import UnscoredPolicy

F = TypeVar("F", bound=Callable[..., Any])


def judge_options(function: F) -> F:
    """--rubric, --pairwise, --backend, --model, --region, --backend-option, --mode, --score, --rationales,
    --cache, --concurrency (each also read from its JUDGERL_* environment variable)."""
    options = [
        click.option("--rubric", envvar="JUDGERL_RUBRIC", required=True, help="Rubric file (YAML/JSON) or s3:// URI."),
        click.option("--pairwise", is_flag=True, envvar="JUDGERL_PAIRWISE", help="Also judge pairs (preferences)."),
        click.option(
            "--backend",
            envvar="JUDGERL_BACKEND",
            default="transformers",
            show_default=True,
            help="Judge backend name, or 'package.module:Factory' for your own.",
        ),
        click.option("--model", envvar="JUDGERL_MODEL", help="Judge model id or path (passed to the backend)."),
        click.option("--region", envvar="JUDGERL_REGION", help="AWS region (bedrock backend)."),
        click.option(
            "--backend-option",
            "backend_option",
            multiple=True,
            metavar="KEY=VALUE",
            help="Further backend option; VALUE is parsed as JSON when it can be (repeatable).",
        ),
        click.option("--mode", type=click.Choice(["logprob", "generate"]), default="logprob", show_default=True),
        click.option("--score", type=click.Choice(["soft", "hard"]), default="soft", show_default=True),
        click.option(
            "--rationales", default="failures", show_default=True, help="none | failures | all | sample:<fraction>."
        ),
        click.option("--cache", "cache_path", envvar="JUDGERL_CACHE", help="SQLite verdict cache file."),
        click.option(
            "--concurrency", type=click.IntRange(1, 4096), default=4, show_default=True, help="Samples judged at once."
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def policy_options(function: F) -> F:
    """--unscored and --neutral-value: the reward of a sample the judge could not score."""
    function = click.option(
        "--neutral-value", type=float, default=0.5, show_default=True, help="Reward of an unscored sample (neutral)."
    )(function)
    function = click.option(
        "--unscored",
        type=click.Choice(["neutral", "zero", "error"]),
        default="neutral",
        show_default=True,
        help="Reward of an unscored sample: the neutral value, 0, or fail the request/batch.",
    )(function)
    return function


def parse_backend_options(items: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise JudgerlError(f"--backend-option {item!r}: expected KEY=VALUE, e.g. max_input_tokens=4096")
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return options


def judge_config_from(params: dict[str, Any]) -> JudgeConfig:
    """A JudgeConfig from the parameters of :func:`judge_options` (removing them from ``params``)."""
    data = {
        "rubric": params.pop("rubric"),
        "pairwise": params.pop("pairwise"),
        "backend": params.pop("backend"),
        "model": params.pop("model"),
        "region": params.pop("region"),
        "backend_options": parse_backend_options(params.pop("backend_option")),
        "mode": params.pop("mode"),
        "score": params.pop("score"),
        "rationales": params.pop("rationales"),
        "cache_path": params.pop("cache_path"),
        "concurrency": params.pop("concurrency"),
    }
    return JudgeConfig.from_mapping(data, source="command line")


def policy_from(params: dict[str, Any]) -> UnscoredPolicy:
    try:
        return UnscoredPolicy(unscored=params.pop("unscored"), neutral_value=params.pop("neutral_value"))
    except ValueError as exc:
        raise JudgerlError(f"--neutral-value: {str(exc).splitlines()[-1]}") from None
