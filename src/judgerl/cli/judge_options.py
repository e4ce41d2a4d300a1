"""The judge options every judging command shares (judge, validate, calibrate, serve, lambda package, graders run).

Each option is declared once here, with one type, one default and one meaning; a command picks the ones it takes
with ``@judge_options("rubric", "mode", ..., *BACKEND_OPTIONS)``. Options that only one command has (its input
and output files, a server's port) stay with that command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from judgerl.backends import backend_names
from judgerl.errors import JudgerlError

F = TypeVar("F", bound=Callable[..., Any])

#: the options that describe the judge backend: a judge spec's backend, model and constructor options
BACKEND_OPTIONS = ("backend", "model", "base_url", "region", "profile", "max_input_tokens", "backend_option")
#: their parameter names, as the command receives them
BACKEND_PARAMS = ("backend", "model", "base_urls", "region", "profile", "max_input_tokens", "backend_options")

DEFAULT_BACKEND = "transformers"

CASCADE_HELP = (
    "A judge cascade: a YAML/JSON file listing two or more stages, each a judge (backend, model, options, mode, "
    "rationales, ...) with an escalation margin, e.g. '- {model: qwen2.5-coder-0.5b, margin: 0.1}' then "
    "'- {model: qwen2.5-coder-1.5b}'. Each verdict starts at the first stage and goes on where it is unsure; the "
    "last stage's verdict is final. The judge's own options then belong in the stages. See docs/cascades.md. "
    "Env: JUDGERL_CASCADE."
)

# name -> (parameter declarations, click.option keyword arguments)
_DECLARATIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "rubric": (
        ("--rubric", "rubric_path"),
        {
            "envvar": "JUDGERL_RUBRIC",
            "type": click.Path(dir_okay=False),
            "help": "Rubric file (YAML or JSON); serve and lambda package also take an s3:// URI. Env: JUDGERL_RUBRIC.",
        },
    ),
    "grader": (
        ("--grader", "grader_path"),
        {
            "envvar": "JUDGERL_GRADER",
            "type": click.Path(dir_okay=False),
            "help": "OpenAI grader JSON file (or a SageMaker reward prompt .txt/.md) to score with instead of a "
            "rubric (docs/openai-graders.md); its score_model/label_model graders and reward prompts run on the judge "
            "backend. Env: JUDGERL_GRADER.",
        },
    ),
    "labels": (
        ("--labels", "labels_path"),
        {
            "type": click.Path(dir_okay=False),
            "help": 'Labelled JSONL: rows with id, prompt, response, optional reference, and "labels": '
            '{"criterion": true|false} for the rubric\'s criteria.',
        },
    ),
    "pairs": (
        ("--pairs", "pairs_path"),
        {
            "type": click.Path(dir_okay=False, path_type=Path),
            "help": "Human-labelled pairs (LLMBar JSON or JSONL): validate measures the pairwise judge on them, tune "
            "chooses how to ask it.",
        },
    ),
    "old_pairs": (
        ("--pairwise", "old_pairs_path"),
        {
            "type": click.Path(path_type=Path),
            "hidden": True,
            "help": "The old spelling of --pairs FILE (deprecated: --pairwise is a flag in every other command).",
        },
    ),
    "pairwise": (
        ("--pairwise",),
        {
            "is_flag": True,
            "help": "Judge pairs: response_a against response_b, in both orders (serve: also on POST /v1/judge).",
        },
    ),
    "mode": (
        ("--mode",),
        {
            "type": click.Choice(["logprob", "generate"]),
            "default": "logprob",
            "show_default": True,
            "help": "logprob: P(PASS) from one forward pass per criterion; generate: JSON with a reason per criterion.",
        },
    ),
    "score": (
        ("--score",),
        {
            "type": click.Choice(["soft", "hard"]),
            "default": "soft",
            "show_default": True,
            "help": "soft: weighted mean of P(PASS); hard: of PASS/FAIL verdicts at calibrated thresholds.",
        },
    ),
    "rationales": (
        ("--rationales",),
        {
            "default": "failures",
            "show_default": True,
            "help": "Which verdicts get a generated rationale: none, failures, all or sample:<fraction> "
            "(logprob mode; generate mode always has reasons). Pairwise: none, all or sample:<fraction>.",
        },
    ),
    "per_criterion_generation": (
        ("--per-criterion-generation",),
        {"is_flag": True, "help": "generate mode: one reply per criterion instead of one reply for all."},
    ),
    "tie_margin": (
        ("--tie-margin",),
        {
            "type": click.FloatRange(0, 0.5, max_open=True),
            "default": 0.0,
            "show_default": True,
            "help": "Pairwise: |P(A better) - 0.5| at or below this is a tie.",
        },
    ),
    "instructions": (("--instructions",), {"default": "", "help": "Pairwise: what 'better' means for this task."}),
    "concurrency": (
        ("--concurrency",),
        {
            "type": click.IntRange(1, 4096),
            "default": 4,
            "show_default": True,
            "help": "Verdicts (or grader rows) judged at once; matters most for remote backends.",
        },
    ),
    "cache": (
        ("--cache", "cache_path"),
        {
            "type": click.Path(dir_okay=False),
            "default": None,
            "help": "Verdict cache (SQLite) to read and write. Default: $JUDGERL_HOME/cache/verdicts.sqlite for "
            "judge, calibrate and serve; no cache for validate and lambda package.",
        },
    ),
    "no_cache": (("--no-cache",), {"is_flag": True, "help": "Neither read nor write the verdict cache."}),
    "no_tuned": (
        ("--no-tuned", "no_tuned"),
        {
            "is_flag": True,
            "help": "Ignore the way of asking `judgerl tune` saved for this rubric and judge model "
            "(<rubric>.tuned.json; pairs: $JUDGERL_HOME/tuned/pairwise.tuned.json): use the plain log-prob verdict.",
        },
    ),
    "cascade": (
        ("--cascade", "cascade_path"),
        {"envvar": "JUDGERL_CASCADE", "type": click.Path(exists=True, dir_okay=False), "help": CASCADE_HELP},
    ),
    "target_agreement": (
        ("--target-agreement",),
        {
            "type": click.FloatRange(0, 1, min_open=True),
            "default": 0.95,
            "show_default": True,
            "help": "With --cascade: the share of the last stage's agreement with the labels the cascade must keep "
            "(calibrate fits the margins that keep it; validate reports them).",
        },
    ),
    "prices": (
        ("--prices", "prices_path"),
        {
            "type": click.Path(dir_okay=False),
            "default": None,
            "help": "Price table (YAML/JSON): {model: {input: USD per 1M tokens, output: USD per 1M tokens}}. judge: "
            "the summary shows the run's cost; validate --cascade: a dollars column on the curve (every stage's "
            "model priced).",
        },
    ),
    "backend": (
        ("--backend",),
        {
            "envvar": "JUDGERL_BACKEND",
            "default": DEFAULT_BACKEND,
            "show_default": True,
            "help": f"Judge backend: {', '.join(backend_names())}, or another registered one. Env: JUDGERL_BACKEND.",
        },
    ),
    "model": (
        ("--model",),
        {
            "envvar": "JUDGERL_MODEL",
            "default": None,
            "help": "Judge model: a catalog name (`judgerl models list`), a local directory, a .gguf file, an "
            "HF id, or the server's/Bedrock's model name. Default: the catalog's default judge on the "
            "transformers backend; the openai and bedrock backends need one. Env: JUDGERL_MODEL.",
        },
    ),
    "base_url": (
        ("--base-url", "base_urls"),
        {
            "multiple": True,
            "envvar": "JUDGERL_BASE_URL",
            "help": "OpenAI-compatible server URL (openai backend); repeat for load balancing and failover.",
        },
    ),
    # no envvar: AWS_REGION would then reach backends that take no region; the bedrock backend reads
    # AWS_REGION / AWS_DEFAULT_REGION (and boto3 AWS_PROFILE) itself
    "region": (("--region",), {"default": None, "help": "AWS region (bedrock backend). Default: $AWS_REGION."}),
    "profile": (("--profile",), {"default": None, "help": "AWS profile (bedrock backend). Default: $AWS_PROFILE."}),
    "max_input_tokens": (
        ("--max-input-tokens",),
        {
            "type": click.IntRange(min=256),
            "default": None,
            "help": "Judge input budget; longer responses are cut in the middle with a visible marker.",
        },
    ),
    "backend_option": (
        ("--backend-option", "backend_options"),
        {
            "multiple": True,
            "metavar": "KEY=VALUE",
            "help": "Extra backend constructor option (repeatable), e.g. dtype=float32.",
        },
    ),
}


def judge_options(*names: str, required: tuple[str, ...] = ()) -> Callable[[F], F]:
    """A decorator adding the named shared options, in the order given; ``required`` ones must be given."""
    unknown = [name for name in (*names, *required) if name not in _DECLARATIONS]
    if unknown or not set(required) <= set(names):
        raise ValueError(f"unknown or unlisted judge options: {unknown or sorted(set(required) - set(names))}")

    def decorate(function: F) -> F:
        for name in reversed(names):
            declarations, settings = _DECLARATIONS[name]
            function = click.option(*declarations, **{**settings, "required": name in required})(function)
        return function

    return decorate


def resolve_pairs_path(pairs_path: Path | None, old_pairs_path: Path | None, command: str) -> Path | None:
    """--pairs FILE, or its deprecated spelling --pairwise FILE (with a deprecation line); never both."""
    if old_pairs_path is None:
        return pairs_path
    if pairs_path is not None:
        raise JudgerlError("--pairwise FILE is the old spelling of --pairs FILE: give --pairs alone")
    click.echo(f"warning: `{command} --pairwise FILE` is deprecated; use `--pairs FILE`", err=True)
    return old_pairs_path


def option_names() -> list[str]:
    """The shared options' names (for tests and docs)."""
    return list(_DECLARATIONS)


def reject_beside_cascade(names: tuple[str, ...]) -> None:
    """With --cascade, options that describe one judge belong in the stages: giving them too is a mistake."""
    context = click.get_current_context()
    for name in names:
        if context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            option = next(p for p in context.command.params if p.name == name)
            raise JudgerlError(f"{option.opts[0]}: set it in the stages of the --cascade file, not beside it")


def policy_options(function: F) -> F:
    """--unscored, --neutral-value and --max-unscored-share: the reward of a sample the judge could not score
    (serve, lambda package)."""
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
