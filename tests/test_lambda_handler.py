from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from judgerl.errors import JudgerlError
from judgerl.serve import lambda_handler
from judgerl.serve.contract import UnscoredPolicy, UnscoredSamples
from judgerl.serve.lambda_handler import LocalContext, handler, load_settings
from judgerl.serve.lambda_package import build_lambda_zip
from judgerl.serve.nova import validate_nova_output
from support.serve import DATA, RUBRIC_PATH, judge_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def lambda_env(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGERL_RUBRIC", str(RUBRIC_PATH))
    monkeypatch.setenv("JUDGERL_BACKEND", "support.serve:ServeBackend")
    monkeypatch.setenv("JUDGERL_RATIONALES", "all")


def event(name: str) -> list[Any]:
    loaded: list[Any] = json.loads((DATA / name).read_text())
    return loaded


def metrics(result: dict[str, Any]) -> dict[str, tuple[float, str]]:
    return {m["name"]: (m["value"], m["type"]) for m in result["metrics_list"]}


def judged_prompts() -> list[str]:
    assert lambda_handler._state is not None
    backend = lambda_handler._state[1].backend
    return [call[0].user for call in backend.label_calls]  # type: ignore[attr-defined]


def test_bedrock_event_scores_in_order_with_a_metric_per_criterion(lambda_env: None) -> None:
    results = handler(event("nova_bedrock_event.json"), LocalContext())
    assert validate_nova_output(results) == []
    assert [r["id"] for r in results] == ["123", "124", "125"]
    assert [r["aggregate_reward_score"] for r in results] == pytest.approx([0.9, 0.2, 0.6])
    first = metrics(results[0])
    assert first == {
        "safe": (0.95, "Reward"),
        "correct": (0.9, "Reward"),
        "polite": (0.9, "Reward"),
        "unscored": (0.0, "Metric"),
        "judge_latency_s": (pytest.approx(first["judge_latency_s"][0]), "Metric"),
    }
    prompts = {p.split("## The assistant's response", 1)[1][:60]: p for p in judged_prompts()}
    by_id = dict(zip(["123", "124", "125"], ["good: As an AI", "bad: x = 9", "Hello, nice"], strict=True))
    texts = {sid: next(p for key, p in prompts.items() if marker in key) for sid, marker in by_id.items()}
    # metadata.reference_answer reaches the judge (as JSON when structured); system turns and text parts too
    assert '"compliant": "No"' in texts["123"] and "security programme" in texts["123"]
    assert '"solution": "x = 4"' in texts["124"]
    assert "Say hello politely." in texts["125"] and "Hello!" in texts["125"]


def test_sagemaker_event_takes_the_top_level_reference(lambda_env: None) -> None:
    results = handler(event("nova_sagemaker_event.json"), LocalContext())
    assert validate_nova_output(results) == []
    assert [(r["id"], r["aggregate_reward_score"]) for r in results] == [
        ("chem-001", pytest.approx(0.9)),
        ("math-001", pytest.approx(0.2)),
    ]
    assert any('"donor_bond_counts": 2' in p for p in judged_prompts())
    assert any('"solution": "x = 4"' in p for p in judged_prompts())


def test_bad_samples_never_fail_the_batch(
    lambda_env: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGERL_MAX_UNSCORED_SHARE", "1")  # 6 of 8 unscored: each on its own, none failing the rest
    with caplog.at_level(logging.INFO, logger="judgerl.rewards"):
        results = handler(event("nova_bad_event.json"), LocalContext())
    assert validate_nova_output(results) == []
    assert [r["id"] for r in results] == [
        "ok-1",
        "",
        "user-last",
        "no-messages",
        "content-int",
        "",
        "judge-error",
        "ok-2",
    ]
    unscored = [metrics(r)["unscored"][0] for r in results]
    assert unscored == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    rewards = [r["aggregate_reward_score"] for r in results]
    assert rewards == pytest.approx([0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.2])
    # unscored samples carry no criterion metrics: their values would be invented
    assert set(metrics(results[6])) == {"unscored", "judge_latency_s"}
    reasons = {
        line["id"]: line.get("unscored_reason")
        for line in (json.loads(r.getMessage()) for r in caplog.records if r.name == "judgerl.rewards")
        if line["event"] == "judgerl.reward"
    }
    assert "the last message must be the assistant's response, got 'user'" in reasons["user-last"]
    assert "field 'messages': required field is missing" in reasons["no-messages"]
    assert (
        "field 'messages.1.content': has the wrong type (should be a valid string or a valid list)"
        in (reasons["content-int"])
    )
    assert "scripted backend error" in reasons["judge-error"]


def test_failure_policy_from_the_environment(lambda_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = [s for s in event("nova_bad_event.json") if isinstance(s, dict) and s.get("id") in ("ok-1", "judge-error")]
    monkeypatch.setenv("JUDGERL_UNSCORED", "zero")
    lambda_handler.reset()
    assert [r["aggregate_reward_score"] for r in handler(bad, LocalContext())] == pytest.approx([0.9, 0.0])
    monkeypatch.setenv("JUDGERL_UNSCORED", "neutral")
    monkeypatch.setenv("JUDGERL_NEUTRAL_VALUE", "0.3")
    lambda_handler.reset()
    assert [r["aggregate_reward_score"] for r in handler(bad, LocalContext())] == pytest.approx([0.9, 0.3])
    monkeypatch.setenv("JUDGERL_UNSCORED", "error")
    lambda_handler.reset()
    with pytest.raises(UnscoredSamples, match="judge-error"):
        handler(bad, LocalContext())
    monkeypatch.setenv("JUDGERL_UNSCORED", "sometimes")
    lambda_handler.reset()
    with pytest.raises(JudgerlError, match="JUDGERL_UNSCORED"):
        handler(bad, LocalContext())


def test_answers_before_the_lambda_times_out(lambda_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGERL_DEADLINE_MARGIN_S", "9")
    items = [
        {"id": "fast", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}]},
        {"id": "slow", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "SLOW"}]},
    ]
    results = handler(items, LocalContext(timeout_s=10.0))  # 10 s Lambda, 9 s margin: about 1 s of judging
    assert [metrics(r)["unscored"][0] for r in results] == [0.0, 1.0]
    assert results[0]["aggregate_reward_score"] == pytest.approx(0.9)


def test_event_shapes(lambda_env: None) -> None:
    one = event("nova_sagemaker_event.json")[0]
    assert handler([], LocalContext()) == []
    assert [r["id"] for r in handler(one, LocalContext())] == ["chem-001"]  # one sample, unwrapped
    assert [r["id"] for r in handler({"body": json.dumps([one])}, LocalContext())] == ["chem-001"]  # function URL
    with pytest.raises(JudgerlError, match="must be a JSON list of samples"):
        handler({"unexpected": True}, LocalContext())


def test_bundled_config_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "r.yaml").write_text(RUBRIC_PATH.read_text())
    document = {
        "judge": {"rubric": "r.yaml", "backend": "support.serve:ServeBackend", "concurrency": 3},
        "policy": {"unscored": "zero"},
        "deadline_margin_s": 5,
    }
    (tmp_path / "config.json").write_text(json.dumps(document))
    env = {"JUDGERL_CONFIG": str(tmp_path / "config.json"), "JUDGERL_CONCURRENCY": "7"}
    settings = load_settings(env)
    assert settings.judge.rubric == str(tmp_path / "r.yaml")  # relative to the config file
    assert settings.judge.concurrency == 7 and settings.policy == UnscoredPolicy(unscored="zero")
    assert settings.deadline_margin_s == 5
    with pytest.raises(JudgerlError, match=r"JUDGERL_CONFIG=.*file not found"):
        load_settings({"JUDGERL_CONFIG": str(tmp_path / "missing.json")})


def test_nova_verifier_rules_catch_bad_outputs() -> None:
    assert validate_nova_output({"id": "1"}) == ["Output: expected a list, got dict"]
    errors = validate_nova_output(
        [
            {"aggregate_reward_score": 1},
            {"id": "2", "aggregate_reward_score": "0.5"},
            {"id": "3", "aggregate_reward_score": 0.1, "metrics_list": [{"name": "a", "value": "x", "type": "Score"}]},
            {"id": "4", "aggregate_reward_score": 0.1, "metrics_list": {"name": "a"}},
        ]
    )
    assert errors == [
        "Output 0: Missing 'id' field",
        "Output 1: 'aggregate_reward_score' should be a number",
        "Output 2, metric 0: 'value' should be a number",
        "Output 2, metric 0: 'type' should be 'Metric' or 'Reward', got 'Score'",
        "Output 3: 'metrics_list' should be a list",
    ]


def test_package_is_reproducible_and_its_handler_runs_from_the_zip(tmp_path: Path) -> None:
    config = judge_config(backend="support.serve:ServeBackend")
    first = build_lambda_zip(tmp_path / "a.zip", config, UnscoredPolicy(), install_dependencies=False)
    second = build_lambda_zip(tmp_path / "b.zip", config, UnscoredPolicy(), install_dependencies=False)
    assert first.path.read_bytes() == second.path.read_bytes()
    names = zipfile.ZipFile(first.path).namelist()
    assert "judgerl/serve/lambda_handler.py" in names and "judgerl_lambda/serve_rubric.yaml" in names
    assert not any("__pycache__" in name for name in names)
    bundled = json.loads(zipfile.ZipFile(first.path).read("judgerl_lambda/config.json"))
    assert bundled["judge"]["rubric"] == "serve_rubric.yaml" and bundled["policy"]["unscored"] == "neutral"

    # `judgerl lambda invoke --zip` unzips into a task root and runs the handler from there only
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    env = {k: v for k, v in env.items() if not (k.startswith("JUDGERL_") and k != "JUDGERL_NONCE_KEY")}
    command = [sys.executable, "-m", "judgerl", "lambda", "invoke", "--zip", str(first.path)]
    command += ["--event", str(DATA / "nova_bedrock_event.json")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert [r["id"] for r in output] == ["123", "124", "125"]
    assert validate_nova_output(output) == []
    assert '"event": "judgerl.batch"' in result.stderr  # rationale/summary log lines (CloudWatch in AWS)


def test_package_refuses_a_rubric_that_will_not_load(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("criteria: []\n")
    with pytest.raises(JudgerlError, match="needs at least one criterion"):
        build_lambda_zip(
            tmp_path / "x.zip", judge_config(rubric=str(broken)), UnscoredPolicy(), install_dependencies=False
        )
