"""One JudgeSpec behind every door: the same defaults, the same plugins, the same accounting."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgerl import PairSample, Rubric, Sample
from judgerl.backends.base import Generation, JudgePrompt
from judgerl.cli.backend_options import judge_spec
from judgerl.cli.main import cli
from judgerl.judges.budget import Budget
from judgerl.judges.spec import JudgeSpec
from judgerl.models.catalog import DEFAULT_JUDGE
from judgerl.serve.config import ServeConfig
from judgerl.train.config import TrainJudge
from judgerl.validate.config import JudgeVariant
from support.fakes import ScriptedBackend
from support.serve import RUBRIC_PATH, ServeBackend

PLUGIN = "support.serve:ServeBackend"


def test_the_lambda_with_only_a_rubric_runs_the_catalog_judge_like_the_cli() -> None:
    lambda_spec = ServeConfig.from_env({"JUDGERL_RUBRIC": str(RUBRIC_PATH)})
    assert lambda_spec.backend_kwargs() == {"model": DEFAULT_JUDGE}
    assert judge_spec(backend="transformers", model=None).backend_kwargs() == {"model": DEFAULT_JUDGE}
    assert TrainJudge().backend_kwargs() == {"model": DEFAULT_JUDGE}
    # a named model, and a backend of one's own, get no catalog default
    assert ServeConfig.from_env({"JUDGERL_RUBRIC": "r.yaml", "JUDGERL_MODEL": "m"}).backend_kwargs() == {"model": "m"}
    assert JudgeSpec(backend=PLUGIN).backend_kwargs() == {}


def test_a_module_factory_backend_works_behind_every_door(tmp_path: Path) -> None:
    built = [
        JudgeSpec(backend=PLUGIN, model="m").build_backend(),
        ServeConfig(rubric=str(RUBRIC_PATH), backend=PLUGIN, model="m").build_backend(),
        TrainJudge(backend=PLUGIN, model="m").build_backend(),
        JudgeVariant(backend=PLUGIN, model="m").spec().build_backend(),
        judge_spec(backend=PLUGIN, model="m").build_backend(),
    ]
    assert all(isinstance(backend, ServeBackend) and backend.model_id == "m" for backend in built)
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"id": "a", "prompt": "p", "response": "r"}) + "\n")
    out = tmp_path / "o.jsonl"
    common = ["--input", str(samples), "--output", str(out), "--backend", PLUGIN, "--model", "m", "--no-cache"]
    result = CliRunner().invoke(cli, ["judge", "--rubric", str(RUBRIC_PATH), *common], standalone_mode=False)
    assert result.exception is None, result.output
    assert json.loads(out.read_text().splitlines()[0])["judge_model"] == "m"


class RationaleCrash(ScriptedBackend):
    """Label probabilities work (and cost tokens); the rationale call raises."""

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        raise RuntimeError("connection reset")


def fail_all(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
    return {labels[0]: 0.1, labels[1]: 0.9}


def test_tokens_spent_before_a_call_raised_are_charged() -> None:
    rubric = Rubric.from_dict({"criteria": [{"name": "a", "text": "A."}]})
    budget = Budget()
    spec = JudgeSpec(rationales="all")
    (verdict,) = spec.rubric_judge(rubric, RationaleCrash(fail_all), budget=budget).judge(
        [Sample(id="s", prompt="Say hi.", response="hi " * 10)]
    )
    assert verdict.score is None and "connection reset" in (verdict.unscored_reason or "")
    assert verdict.prompt_tokens > 0
    assert budget.snapshot().prompt_tokens == verdict.prompt_tokens

    calls: list[JudgePrompt] = []

    def prefer_a(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
        calls.append(prompt)  # the first order shows A first; the second shows B first (label B = response A)
        return {"A": 0.9, "B": 0.1} if len(calls) % 2 else {"A": 0.1, "B": 0.9}

    pair_budget = Budget()
    pairs = [PairSample(id="p", prompt="Say hi.", response_a="hi", response_b="hello there")]
    (pair,) = spec.pairwise_judge(RationaleCrash(prefer_a), budget=pair_budget).judge(pairs)
    assert pair.winner is None and "connection reset" in (pair.unscored_reason or "")
    assert pair.prompt_tokens > 0
    assert pair_budget.snapshot().prompt_tokens == pair.prompt_tokens


def test_spec_mistakes_are_one_line_errors_at_the_cli() -> None:
    from judgerl.errors import JudgerlError

    with pytest.raises(JudgerlError, match="tie_margin"):
        judge_spec(backend="transformers", model="m", tie_margin=0.7)
