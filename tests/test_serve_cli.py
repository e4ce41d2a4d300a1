"""`judgerl serve` and `judgerl lambda` as a user runs them: real processes, real sockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support.serve import DATA, RUBRIC_PATH

ROOT = Path(__file__).resolve().parents[1]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUDGERL_")}
    env["JUDGERL_HOME"] = str(home)
    env.update(JUDGERL_NONCE_KEY="tests", PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]))
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_serve_command_starts_answers_and_stops(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "judgerl", "serve", "--rubric", str(RUBRIC_PATH)]
    command += ["--backend", "support.serve:ServeBackend", "--model", "scripted-judge", "--port", str(port)]
    command += ["--backend-option", "delay_s=0.001"]
    command += ["--unscored", "zero", "--rationales", "none", "--log-level", "warning"]
    log = (tmp_path / "server.log").open("w")
    env = cli_env(tmp_path, JUDGERL_SERVER_TOKEN="cli-token")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/health", timeout=1).json()
                break
            except httpx.TransportError:
                assert process.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert health["policy"]["unscored"] == "zero" and health["backend"] == "support.serve:ServeBackend"
        event = json.loads((DATA / "nova_bedrock_event.json").read_text())
        assert httpx.post(f"{url}/v1/nova", json=event).status_code == 401  # the token came from the environment
        results = httpx.post(f"{url}/v1/nova", json=event, headers={"Authorization": "Bearer cli-token"}).json()
        assert [r["aggregate_reward_score"] for r in results] == pytest.approx([0.9, 0.2, 0.6])
        body = httpx.post(f"{url}/get_reward", json={"query": ["ERROR"]}, headers={"Authorization": "Bearer cli-token"})
        assert body.json()["rewards"] == [0.0]  # --unscored zero
        assert (tmp_path / "cache" / "verdicts.sqlite").exists()  # the default cache, under JUDGERL_HOME
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_cli_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "judgerl", *args], env=cli_env(tmp_path), capture_output=True, text=True, timeout=60
        )

    backend = ["--backend", "support.serve:ServeBackend", "--model", "m"]
    missing = run("serve", "--rubric", str(tmp_path / "nope.yaml"), *backend)
    assert (
        missing.returncode == 2 and missing.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: rubric file not found"
    )
    bad_option = run("serve", "--rubric", str(RUBRIC_PATH), "--model", "m", "--backend-option", "novalue")
    assert bad_option.returncode == 2 and "--backend-option 'novalue': expected KEY=VALUE" in bad_option.stderr
    assert "Traceback" not in missing.stderr + bad_option.stderr
    # a non-loopback address (TEST-NET-1: never bound, old code only warned) needs a token or --insecure
    exposed = run("serve", "--rubric", str(RUBRIC_PATH), *backend, "--host", "192.0.2.1", "--port", "1")
    assert exposed.returncode == 2 and "needs a token; set JUDGERL_SERVER_TOKEN" in exposed.stderr, exposed.stderr
    assert "--insecure" in exposed.stderr and "Traceback" not in exposed.stderr


def test_lambda_package_and_invoke_commands(tmp_path: Path) -> None:
    out = tmp_path / "fn.zip"
    command = [sys.executable, "-m", "judgerl", "lambda", "package", "--rubric", str(RUBRIC_PATH), "--no-deps"]
    command += ["--backend", "support.serve:ServeBackend", "--model", "m", "--unscored", "zero", "--out", str(out)]
    command += ["--max-unscored-share", "1"]  # the event has 6 bad samples of 8: each unscored, none failing the batch
    packaged = subprocess.run(command, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert packaged.returncode == 0, packaged.stderr
    report = json.loads(packaged.stdout)
    assert report["handler"] == "judgerl.serve.lambda_handler.handler" and out.exists()
    invoke = [sys.executable, "-m", "judgerl", "lambda", "invoke", "--zip", str(out)]
    invoke += ["--event", str(DATA / "nova_bad_event.json")]
    result = subprocess.run(invoke, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    rewards = [r["aggregate_reward_score"] for r in json.loads(result.stdout)]
    assert rewards == pytest.approx([0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2])  # the bundled policy: zero
