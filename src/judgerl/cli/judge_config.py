"""A ServeConfig and a failure policy from the shared judge options (serve, lambda package)."""

from __future__ import annotations

from typing import Any

from judgerl.cli.backend_options import backend_kwargs
from judgerl.cli.judge_options import BACKEND_OPTIONS, BACKEND_PARAMS, reject_beside_cascade
from judgerl.errors import JudgerlError
from judgerl.judges.outcome import UnscoredPolicy
from judgerl.judges.spec import load_cascade
from judgerl.serve.config import ServeConfig
from judgerl.settings import default_cache_path

#: the shared options a served judge takes (serve, lambda package)
SERVED_JUDGE_OPTIONS = (
    "rubric",
    "grader",
    "pairwise",
    "mode",
    "score",
    "rationales",
    "cache",
    "no_cache",
    "no_tuned",
    "concurrency",
    "cascade",
    *BACKEND_OPTIONS,
)


def judge_config_from(params: dict[str, Any], default_cache: bool = True) -> ServeConfig:
    """A ServeConfig from the parameters of :data:`SERVED_JUDGE_OPTIONS` (removing them from ``params``)."""
    backend_args = {name: params.pop(name) for name in BACKEND_PARAMS}
    cascade_path = params.pop("cascade_path")
    backend = backend_args.pop("backend")
    try:
        options = backend_kwargs(**backend_args)
    except ImportError:
        raise JudgerlError("--model is required: no model catalog is installed to pick a default judge") from None
    cache_path, no_cache = params.pop("cache_path"), params.pop("no_cache")
    if cache_path is None and default_cache and not no_cache:
        cache_path = str(default_cache_path())
    rubric, grader = params.pop("rubric_path"), params.pop("grader_path")
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
        reject_beside_cascade((*BACKEND_PARAMS, "mode", "score", "rationales"))
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
