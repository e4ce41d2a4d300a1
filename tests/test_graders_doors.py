"""An OpenAI grader file at every door but training: `judgerl judge --grader`, `judgerl serve --grader` (a real
uvicorn server on 127.0.0.1: /v1/nova, /get_reward, /v1/judge, /health) and the Lambda (from env, and from a
packaged zip). Training with a grader is in test_train_grader.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from judgerl.backends.base import Generation, JudgePrompt
from judgerl.cli.main import cli
from judgerl.errors import JudgerlError
from judgerl.judges.budget import Budget
from judgerl.judges.grader_judge import GraderJudge
from judgerl.judges.spec import JudgeSpec
from judgerl.samples import Sample
from judgerl.serve.config import ServeConfig
from judgerl.serve.contract import UnscoredPolicy
from judgerl.serve.lambda_handler import LocalContext, handler
from judgerl.serve.lambda_package import build_lambda_zip
from judgerl.serve.nova import validate_nova_output
from judgerl.serve.server import BackgroundServer, ServerSettings, create_app
from support.judge_free_runs import forbid_judge_backend
from support.serve import DATA, GraderReplyBackend

ROOT = Path(__file__).resolve().parents[1]
GRADERS = DATA / "graders"
DOOR_MULTI = (
    GRADERS.parent / "graders_doors" / "door_multi.json"
)  # 0.5 * (output says "good") + 0.5 * score_model (0.8 if good else 0.1)
BACKEND = "support.serve:GraderReplyBackend"


def grader_config(grader: Path = DOOR_MULTI, **overrides: Any) -> ServeConfig:
    return ServeConfig.model_validate({"grader": str(grader), "backend": BACKEND, **overrides})


def nova_event() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((DATA / "nova_bedrock_event.json").read_text())
    return loaded


def metric_values(result: dict[str, Any]) -> dict[str, float]:
    return {m["name"]: m["value"] for m in result["metrics_list"]}


# ---- the shared judge ------------------------------------------------------------------------------------------


def test_a_grader_judge_gives_verdicts_with_sub_rewards_and_unscored_reasons() -> None:
    judge = JudgeSpec(backend=BACKEND).grader_judge(DOOR_MULTI)
    assert isinstance(judge.backend, GraderReplyBackend)
    samples = [
        Sample(id="1", prompt="q", response="good answer"),
        Sample(id="2", prompt="q", response="poor answer"),
        Sample(id="3", prompt="q", response="good but ERROR"),
    ]
    first, second, third = judge.judge(samples)
    assert first.score == pytest.approx(0.9) and second.score == pytest.approx(0.05)
    assert {c.name: c.p_pass for c in first.criteria} == pytest.approx({"says_good": 1.0, "rated": 0.8})
    assert next(c for c in first.criteria if c.name == "says_good").passed is True
    assert next(c for c in first.criteria if c.name == "rated").rationale  # the score_model's steps
    assert third.score is None and "rated" in (third.unscored_reason or "")
    assert judge.criterion_names == ["says_good", "rated"]


def test_a_grader_without_model_graders_never_builds_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_judge_backend(monkeypatch, "a string_check grader must not build a backend")
    judge = JudgeSpec(backend=BACKEND).grader_judge(GRADERS / "string_check.json")
    (verdict,) = judge.judge([Sample(id="1", prompt="q", response="Paris", metadata={"reference_answer": "Paris"})])
    assert verdict.score == 1.0 and judge.model_id.startswith("grader:")


class _CountingGraderBackend(GraderReplyBackend):
    """GraderReplyBackend whose replies cost 10 + 5 tokens, and whose call raises when the prompt says CRASH."""

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        if any("CRASH" in prompt.user for prompt in prompts):
            raise RuntimeError("the judge server went away")
        replies = super().generate(prompts, max_new_tokens)
        return [Generation(text=r.text, prompt_tokens=10, completion_tokens=5) for r in replies]


def test_a_grader_judge_has_the_judges_budget_error_guard_and_usage() -> None:
    """A grader is a Judge: its model grader's tokens are counted and charged, a crash is an unscored verdict
    with the reason, and once the budget is spent the samples left are not graded."""
    budget = Budget(max_tokens=30)
    judge = JudgeSpec(concurrency=1).grader_judge(DOOR_MULTI, _CountingGraderBackend(), budget=budget)
    samples = [Sample(id=str(k), prompt="q", response=text) for k, text in enumerate(["good", "CRASH", "good", "good"])]
    first, crashed, third, fourth = judge.judge(samples)
    assert first.score is not None and (first.prompt_tokens, first.completion_tokens) == (10, 5)
    assert crashed.score is None and "judge error: RuntimeError: the judge server went away" in (
        crashed.unscored_reason or ""
    )
    assert third.score is not None and budget.total_tokens == 30
    assert fourth.score is None and "budget exhausted" in (fourth.unscored_reason or "")


def test_serve_config_takes_a_rubric_or_a_grader() -> None:
    with pytest.raises(JudgerlError, match="exactly one of 'rubric'"):
        ServeConfig.from_mapping({"backend": BACKEND})
    with pytest.raises(JudgerlError, match="cannot be used with a grader"):
        ServeConfig.from_mapping({"grader": str(DOOR_MULTI), "pairwise": True})
    env = {"JUDGERL_GRADER": str(DOOR_MULTI), "JUDGERL_BACKEND": BACKEND}
    assert ServeConfig.from_env(env).grader == str(DOOR_MULTI)


# ---- judgerl judge --grader ------------------------------------------------------------------------------------


def test_judge_command_with_a_grader_writes_verdicts_and_records_them(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "prompt": "What is the capital?", "response": "Paris", "metadata": {"reference_answer": "Paris"}},
        {"id": "b", "prompt": "What is the capital?", "response": "Lyon", "metadata": {"reference_answer": "Paris"}},
        {"id": "c", "prompt": "What is the capital?", "response": "Paris"},
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    grader = str(GRADERS / "string_check.json")
    arguments = ["judge", "--grader", grader, "--input", str(tmp_path / "in.jsonl"), "--output"]
    result = CliRunner().invoke(cli, [*arguments, str(tmp_path / "out.jsonl"), "--store", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    verdicts = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [v["score"] for v in verdicts] == [1.0, 0.0, None]
    assert "item.reference_answer" in verdicts[2]["unscored_reason"]
    assert (tmp_path / "run" / "verdicts.sqlite").exists()

    both = CliRunner().invoke(cli, [*arguments, "o.jsonl", "--rubric", grader])
    assert isinstance(both.exception, JudgerlError) and "--grader replaces --rubric" in str(both.exception)


# ---- judgerl serve --grader ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    built = grader_config(concurrency=4).build()
    try:
        with BackgroundServer(create_app(built, ServerSettings())) as server:
            yield server.url
    finally:
        built.close()


def test_served_grader_scores_nova_batches(url: str) -> None:
    results = httpx.post(f"{url}/v1/nova", json=nova_event(), timeout=60).json()
    assert validate_nova_output(results) == []
    assert [r["aggregate_reward_score"] for r in results] == pytest.approx([0.9, 0.05, 0.05])
    first = metric_values(results[0])
    assert set(first) == {"says_good", "rated", "unscored", "judge_latency_s"}
    assert (first["says_good"], first["rated"], first["unscored"]) == pytest.approx((1.0, 0.8, 0.0))


def test_served_grader_answers_openrlhf_and_the_judge_route(url: str) -> None:
    payload = {"query": ["Q: hi A: good", "Q: hi A: meh", "Q: hi A: ERROR good"], "prompts": ["Q: hi A: "] * 3}
    body = httpx.post(f"{url}/get_reward", json=payload, timeout=60).json()
    assert body["rewards"] == pytest.approx([0.9, 0.05, 0.5])  # the unscored one gets the neutral value
    assert body["extra_logs"]["unscored"] == [0.0, 0.0, 1.0]
    assert body["extra_logs"]["says_good"] == pytest.approx([1.0, 0.0, 1.0])
    samples = [{"id": "x", "prompt": "hi", "response": "good"}]
    judged = httpx.post(f"{url}/v1/judge", json={"samples": samples}, timeout=60).json()
    assert judged["rubric"] == {"name": "says good and rated", "criteria": ["says_good", "rated"]}
    assert judged["verdicts"][0]["score"] == pytest.approx(0.9)
    health = httpx.get(f"{url}/health").json()
    assert health["grader"] == str(DOOR_MULTI) and health["judge_model"] == "o4-mini-2025-04-16"  # the grader's model


def test_serve_command_refuses_a_rubric_and_a_grader_together() -> None:
    result = CliRunner().invoke(cli, ["serve", "--grader", str(DOOR_MULTI), "--rubric", "r.yaml"])
    assert isinstance(result.exception, JudgerlError) and "not both or neither" in str(result.exception)


# ---- the Lambda --------------------------------------------------------------------------------------------------


def test_lambda_scores_with_the_grader_of_judgerl_grader(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGERL_GRADER", str(DOOR_MULTI))
    monkeypatch.setenv("JUDGERL_BACKEND", BACKEND)
    monkeypatch.setenv("JUDGERL_UNSCORED", "zero")
    event = nova_event()
    event[2]["messages"][-1]["content"] = "good, ERROR"
    results = handler(event, LocalContext())
    assert validate_nova_output(results) == []
    assert [r["aggregate_reward_score"] for r in results] == pytest.approx([0.9, 0.05, 0.0])
    assert metric_values(results[2])["unscored"] == 1.0


def test_lambda_zip_carries_the_grader_and_its_handler_scores_with_it(tmp_path: Path) -> None:
    config = grader_config(GRADERS / "string_check.json", backend="transformers")
    report = build_lambda_zip(tmp_path / "g.zip", config, UnscoredPolicy(), install_dependencies=False)
    archive = zipfile.ZipFile(report.path)
    assert "judgerl_lambda/string_check.json" in archive.namelist()
    bundled = json.loads(archive.read("judgerl_lambda/config.json"))
    assert bundled["judge"]["grader"] == "string_check.json" and bundled["judge"]["rubric"] is None

    event = [
        {"id": "1", "messages": [{"role": "user", "content": "Capital?"}, {"role": "assistant", "content": "Paris"}],
         "metadata": {"reference_answer": "Paris"}},
        {"id": "2", "messages": [{"role": "user", "content": "Capital?"}, {"role": "assistant", "content": "Rome"}],
         "metadata": {"reference_answer": "Paris"}},
    ]  # fmt: skip
    (tmp_path / "event.json").write_text(json.dumps(event))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUDGERL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])  # the zip's task root goes first
    command = [sys.executable, "-m", "judgerl", "lambda", "invoke", "--zip", str(report.path)]
    result = subprocess.run(
        [*command, "--event", str(tmp_path / "event.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert [r["aggregate_reward_score"] for r in json.loads(result.stdout)] == [1.0, 0.0]  # item.reference_answer


def test_lambda_package_names_the_metric_libraries_a_grader_needs(tmp_path: Path) -> None:
    config = grader_config(GRADERS / "text_similarity.json", backend="transformers")
    report = build_lambda_zip(tmp_path / "t.zip", config, UnscoredPolicy(), install_dependencies=False)
    assert any("--requirement" in warning for warning in report.warnings)
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "string_check", "input": "x", "reference": "y", "operation": "is"}')
    with pytest.raises(JudgerlError, match="operation"):
        build_lambda_zip(tmp_path / "x.zip", grader_config(broken), UnscoredPolicy(), install_dependencies=False)


def test_grader_judge_is_a_grader_judge() -> None:
    assert isinstance(grader_config(GRADERS / "string_check.json").build().judge, GraderJudge)


def test_verl_in_process_scores_with_a_grader(clean_env: None) -> None:
    from judgerl.serve.verl import compute_score_batch

    results = compute_score_batch(
        ["math", "math"], ["good answer", "meh"], ["4", "4"], [{"question": "2+2?"}, {"question": "2+2?"}],
        grader=str(DOOR_MULTI), backend=BACKEND,
    )  # fmt: skip
    assert [r["score"] for r in results] == pytest.approx([0.9, 0.05])
    assert set(results[0]) == {"score", "unscored", "judge_latency_s", "says_good", "rated"}
