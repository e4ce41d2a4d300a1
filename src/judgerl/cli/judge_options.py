"""Click options that build a ServeConfig and a failure policy, shared by the commands that run a judge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from judgerl.cli.backend_options import backend_kwargs, judge_backend_options, no_tuned_option
from judgerl.errors import JudgerlError
from judgerl.judges.outcome import UnscoredPolicy
from judgerl.judges.spec import load_cascade
from judgerl.serve.config import ServeConfig
from judgerl.settings import default_cache_path

F = TypeVar("F", bound=Callable[..., Any])
_BACKEND_PARAMS = ("backend", "model", "base_urls", "region", "profile", "max_input_tokens", "backend_options")

CASCADE_HELP = (
    "A judge cascade: a YAML/JSON file listing two or more stages, each a judge (backend, model, options, mode, "
    "rationales, ...) with an escalation margin, e.g. '- {model: qwen2.5-coder-0.5b, margin: 0.1}' then "
    "'- {model: qwen2.5-coder-1.5b}'. Each verdict starts at the first stage and goes on where it is unsure; the "
    "last stage's verdict is final. The judge's own options then belong in the stages. See docs/cascades.md."
)


def cascade_option(function: F, envvar: str | None = None) -> F:
    """--cascade FILE."""
    return click.option(
        "--cascade",
        "cascade_path",
        envvar=envvar,
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help=CASCADE_HELP + (f" Env: {envvar}." if envvar else ""),
    )(function)


def reject_beside_cascade(names: tuple[str, ...]) -> None:
    """With --cascade, options that describe one judge belong in the stages: giving them too is a mistake."""
    context = click.get_current_context()
    for name in names:
        if context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            option = next(p for p in context.command.params if p.name == name)
            raise JudgerlError(f"{option.opts[0]}: set it in the stages of the --cascade file, not beside it")


def judge_options(function: F) -> F:
    """--rubric or --grader, --pairwise, --mode, --score, --rationales, --cache/--no-cache, --concurrency, and the
    backend options every judging command shares (--backend, --model, --base-url, --region, --profile, ...)."""
    options = [
        click.option("--rubric", envvar="JUDGERL_RUBRIC", help="Rubric file (YAML/JSON) or s3:// URI."),
        click.option(
            "--grader",
            envvar="JUDGERL_GRADER",
            help="OpenAI grader JSON file (or a SageMaker reward prompt .txt/.md) to score with instead of a "
            "rubric (docs/openai-graders.md); its score_model/label_model graders run on the judge backend.",
        ),
        click.option("--pairwise", is_flag=True, help="Also judge pairs (preferences) on POST /v1/judge."),
        click.option("--mode", type=click.Choice(["logprob", "generate"]), default="logprob", show_default=True),
        click.option("--score", type=click.Choice(["soft", "hard"]), default="soft", show_default=True),
        click.option(
            "--rationales", default="failures", show_default=True, help="none | failures | all | sample:<fraction>."
        ),
        click.option(
            "--cache",
            "cache_path",
            default=None,
            help="Verdict cache (SQLite). Default: $JUDGERL_HOME/cache/verdicts.sqlite.",
        ),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the verdict cache."),
        click.option(
            "--concurrency", type=click.IntRange(1, 4096), default=4, show_default=True, help="Samples judged at once."
        ),
    ]
    function = judge_backend_options(function)
    function = no_tuned_option(function)
    function = cascade_option(function, envvar="JUDGERL_CASCADE")
    for option in reversed(options):
        function = option(function)
    return function


def policy_options(function: F) -> F:
    """--unscored, --neutral-value and --max-unscored-share: the reward of a sample the judge could not score."""
    function = click.option(
        "--max-unscored-share",
        type=click.FloatRange(0.0, 1.0),
        default=0.5,
        show_default=True,
        help="Nova doors (Lambda, /v1/nova) fail a batch with a larger share of unscored samples (1: never).",
    )(function)
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


def judge_config_from(params: dict[str, Any], default_cache: bool = True) -> ServeConfig:
    """A ServeConfig from the parameters of :func:`judge_options` (removing them from ``params``)."""
    backend_args = {name: params.pop(name) for name in _BACKEND_PARAMS}
    cascade_path = params.pop("cascade_path")
    backend = backend_args.pop("backend")
    try:
        options = backend_kwargs(**backend_args)
    except ImportError:
        raise JudgerlError("--model is required: no model catalog is installed to pick a default judge") from None
    cache_path, no_cache = params.pop("cache_path"), params.pop("no_cache")
    if cache_path is None and default_cache and not no_cache:
        cache_path = str(default_cache_path())
    rubric, grader = params.pop("rubric"), params.pop("grader")
    if (rubric is None) == (grader is None):
        raise JudgerlError("give --rubric (a rubric file) or --grader (an OpenAI grader file), not both or neither")
    data = {
        "rubric": rubric,
        "grader": grader,
        "pairwise": params.pop("pairwise"),
        "backend": backend,
        "backend_options": options,
        "mode": params.pop("mode"),
        "score": params.pop("score"),
        "rationales": params.pop("rationales"),
        "cache_path": None if no_cache else cache_path,
        "concurrency": params.pop("concurrency"),
    }
    if params.pop("no_tuned", False):
        data["tuned"] = False
    if cascade_path is not None:
        reject_beside_cascade((*_BACKEND_PARAMS, "mode", "score", "rationales"))
        for name in ("backend", "backend_options", "mode", "score", "rationales"):
            del data[name]
        data["cascade"] = load_cascade(cascade_path)
    return ServeConfig.from_mapping(data, source="command line")


def policy_from(params: dict[str, Any]) -> UnscoredPolicy:
    try:
        return UnscoredPolicy(
            unscored=params.pop("unscored"),
            neutral_value=params.pop("neutral_value"),
            max_unscored_share=params.pop("max_unscored_share"),
        )
    except ValueError as exc:
        raise JudgerlError(f"--neutral-value: {str(exc).splitlines()[-1]}") from None
