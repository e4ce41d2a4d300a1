"""`judgerl judge` with the remote backends, in a real process: results, and one-line set-up errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import judgerl
from judgerl.testing.stub_server import StubChatServer

RUBRIC = "criteria:\n  - {name: correct, text: The answer is correct.}\n  - {name: brief, text: The answer is brief.}\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC)
    samples = tmp_path / "samples.jsonl"
    rows = [{"id": f"r{i}", "prompt": f"{i} + {i}?", "response": str(2 * i)} for i in range(5)]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rubric, samples


@pytest.fixture
def server() -> Iterator[StubChatServer]:
    with StubChatServer(api_key="sk-test-key") as stub:
        yield stub


def judgerl_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    src = str(Path(judgerl.__file__).parents[1])
    environment = {**os.environ, "PYTHONPATH": src, "JUDGERL_HOME": str(tmp_path / "home"), **(env or {})}
    for name in ("JUDGERL_BACKEND", "JUDGERL_MODEL", "JUDGERL_BASE_URL", *unset):
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "judgerl", "judge", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_openai_backend_from_the_cli(tmp_path: Path, files: tuple[Path, Path], server: StubChatServer) -> None:
    rubric, samples = files
    out = tmp_path / "verdicts.jsonl"
    common = ["--rubric", str(rubric), "--input", str(samples), "--output", str(out), "--rationales", "none"]
    result = judgerl_cli(
        tmp_path,
        *common,
        "--backend",
        "openai",
        "--base-url",
        server.base_url,
        "--model",
        "stub-judge",
        "--backend-option",
        "timeout_s=10",
        env={"OPENAI_API_KEY": "sk-test-key", "AWS_REGION": "us-east-1", "AWS_PROFILE": "judge"},
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(5)]
    assert all(r["score"] is not None and r["mode"] == "logprob" and r["prompt_tokens"] > 0 for r in rows)
    assert "sk-test-key" not in result.stderr + result.stdout


def test_cli_set_up_errors_are_one_line(tmp_path: Path, files: tuple[Path, Path], server: StubChatServer) -> None:
    rubric, samples = files
    common = ["--rubric", str(rubric), "--input", str(samples), "--output", str(tmp_path / "v.jsonl"), "--no-cache"]
    quick = ["--backend-option", "max_attempts=2", "--backend-option", "retry_base_s=0.01"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    unreachable = one_line_error(
        judgerl_cli(tmp_path, *common, *quick, "--backend", "openai", "--base-url", closed, "--model", "m")
    )
    assert "did not answer" in unreachable and closed in unreachable

    openai = ["--backend", "openai", "--base-url", server.base_url]
    bad_key = one_line_error(
        judgerl_cli(tmp_path, *common, *openai, "--model", "stub-judge", env={"OPENAI_API_KEY": "sk-wrong-1234"})
    )
    assert "rejected the API key" in bad_key and "OPENAI_API_KEY" in bad_key and "sk-wrong-1234" not in bad_key

    wrong_model = one_line_error(
        judgerl_cli(tmp_path, *common, *openai, "--model", "gpt-nope", env={"OPENAI_API_KEY": "sk-test-key"})
    )
    assert "model 'gpt-nope' not found" in wrong_model


def test_bedrock_from_the_cli_without_credentials(tmp_path: Path, files: tuple[Path, Path]) -> None:
    rubric, samples = files
    env = {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    unset = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION")
    common = ["--rubric", str(rubric), "--input", str(samples), "--output", str(tmp_path / "v.jsonl"), "--no-cache"]
    bedrock = ["--backend", "bedrock", "--model", "amazon.nova-micro-v1:0"]
    no_region = one_line_error(judgerl_cli(tmp_path, *common, *bedrock, env=env, unset=(*unset, "AWS_REGION")))
    assert "no AWS region" in no_region
    no_credentials = one_line_error(
        judgerl_cli(tmp_path, *common, *bedrock, "--region", "us-east-1", env=env, unset=unset)
    )
    assert "Bedrock refused access in us-east-1" in no_credentials and "credentials" in no_credentials


def test_cli_budget_stops_judging_and_reports_usage(
    tmp_path: Path, files: tuple[Path, Path], server: StubChatServer
) -> None:
    """A token budget smaller than the run: the first samples are scored, the rest unscored with the reason;
    the summary line shows tokens, cost from the price table and the server's request counts."""
    rubric, samples = files
    prices = tmp_path / "prices.yaml"
    prices.write_text("stub-judge: {input: 1.0, output: 2.0}\n")
    out = tmp_path / "verdicts.jsonl"
    result = judgerl_cli(
        tmp_path,
        *("--rubric", str(rubric), "--input", str(samples), "--output", str(out), "--rationales", "none"),
        *("--backend", "openai", "--base-url", server.base_url, "--model", "stub-judge"),
        *("--concurrency", "1", "--no-cache", "--max-judge-tokens", "1", "--prices", str(prices)),
        env={"OPENAI_API_KEY": "sk-test-key"},
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(5)]
    assert rows[0]["score"] is not None
    assert all(r["score"] is None and r["unscored_reason"].startswith("budget exhausted") for r in rows[1:])
    summary = " ".join(result.stderr.split())
    assert "judge tokens:" in summary and "cost $" in summary and "requests:" in summary
    assert "budget exhausted" in summary


def test_cli_money_budget_without_prices_is_one_line(tmp_path: Path, files: tuple[Path, Path]) -> None:
    rubric, samples = files
    result = judgerl_cli(
        tmp_path,
        *("--rubric", str(rubric), "--input", str(samples), "--output", str(tmp_path / "v.jsonl")),
        *("--backend", "openai", "--base-url", "http://127.0.0.1:9", "--model", "m", "--max-cost-usd", "0.5"),
    )
    assert "price table" in one_line_error(result)
