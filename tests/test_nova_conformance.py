"""One conformance test per reward-Lambda payload shape the AWS pages document, at both Nova doors (the Lambda
handler and POST /v1/nova), and the batch-level failure: never a silently neutral batch.

Each fixture keeps the documented structure (field names, nesting, roles); the reply texts carry the scripted
judge's markers (``good`` -> 0.9, ``bad`` -> 0.2; tests/support/serve.py) so the scores are known.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from judgerl.serve.lambda_handler import LocalContext, handler
from judgerl.serve.nova import MostlyUnscored, validate_nova_output
from support.serve import RUBRIC_PATH, running

ROOT = Path(__file__).resolve().parents[1]


def turn(role: str, content: Any) -> dict[str, Any]:
    return {"role": role, "content": content}


# Bedrock, "Setting up reward functions for Amazon Nova models", Lambda function implementation details, Input
# structure (https://docs.aws.amazon.com/bedrock/latest/userguide/reward-functions.html): a list of
# {"id", "messages": [user, assistant], "metadata": {"reference_answer": {...}, "my_key": ...}}.
BEDROCK = [
    {
        "id": "123",
        "messages": [
            turn("user", "Do you have a dedicated security team?"),
            turn("assistant", "good: As an AI developed by Amazon, I do not have a dedicated security team..."),
        ],
        "metadata": {
            "reference_answer": {"compliant": "No", "explanation": "As an AI developed by Company, ..."},
            "my_key": "sample-001",
        },
    }
]

# Bedrock, "Setting up reward functions for open-weight models", Lambda function implementation details
# (https://docs.aws.amazon.com/bedrock/latest/userguide/reward-functions-open-weight.html): the same input
# structure as for Nova models (metadata.reference_answer).
OPEN_WEIGHT = [
    {
        "id": "ow-1",
        "messages": [turn("user", "Solve: 2x + 5 = 13"), turn("assistant", "bad: x = 9")],
        "metadata": {"reference_answer": {"solution": "x = 4"}, "my_key": "ow-001"},
    }
]

# Nova 2 / SageMaker, "Implementing reward functions", Sample payload for the reward lambda
# (https://docs.aws.amazon.com/sagemaker/latest/dg/nova-implementing-reward-functions.html and the Nova 2 user
# guide's page of the same name): the training row with the assistant turn appended, an "id" added, and the
# row's other fields (a top-level "reference_answer") as in the dataset; "RFT on Nova 2.0"
# (nova-hp-rft-nova2.html) adds a system turn, optional "tools", and text parts as content.
NOVA2 = [
    {
        "id": "chem-001",
        "messages": [
            turn("system", "You are a helpful chemistry assistant"),
            turn("user", [{"type": "text", "text": "Predict hydrogen bond donors and acceptors for CCN(CC)CCC"}]),
            turn("assistant", "good: 2 donors, 4 acceptors"),
        ],
        "reference_answer": {"donor_bond_counts": 2, "acceptor_bond_counts": 4},
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    },
    {  # tool calling (RFT on Nova 2.0): the reply is a tool call, judged on the call itself
        "id": "tool-001",
        "messages": [
            turn("user", "Generate a strength stat for a warrior"),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "roll", "arguments": '{"stat": "strength", "note": "good"}'},
                    }
                ],
            },
        ],
        "reference_answer": {"tool": "roll"},
    },
]

# SageMaker HyperPod: its request format marks the policy's reply with role "nova_assistant" (as issue 29
# reports from the HyperPod recipe's reward Lambda payload; the other fields as in "Custom reward functions in
# your AWS environment", nova-hp-rft-reward-functions.html).
HYPERPOD = [
    {
        "id": "hp-1",
        "messages": [
            turn("system", "You are a math tutor"),
            turn("user", "Solve: 2x + 5 = 13"),
            turn("nova_assistant", "good: x = 4"),
        ],
        "reference_answer": {"solution": "x = 4"},
    },
    {
        "id": "hp-2",
        "messages": [turn("user", "Solve: 3x = 9"), turn("nova_assistant", "bad: x = 9")],
        "reference_answer": {"solution": "x = 3"},
    },
]

SHAPES = {
    "bedrock": (BEDROCK, [0.9]),
    "open-weight": (OPEN_WEIGHT, [0.2]),
    "nova2": (NOVA2, [0.9, 0.9]),
    "hyperpod": (HYPERPOD, [0.9, 0.2]),
}


@pytest.fixture
def lambda_env(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGERL_RUBRIC", str(RUBRIC_PATH))
    monkeypatch.setenv("JUDGERL_BACKEND", "support.serve:ServeBackend")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running() as base:
        yield base


def unscored(result: dict[str, Any]) -> float:
    return next(m["value"] for m in result["metrics_list"] if m["name"] == "unscored")


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_documented_payload_scores_at_the_lambda(shape: str, lambda_env: None) -> None:
    payload, expected = SHAPES[shape]
    results = handler(payload, LocalContext())
    assert validate_nova_output(results) == []
    assert [r["id"] for r in results] == [sample["id"] for sample in payload]
    assert [unscored(r) for r in results] == [0.0] * len(payload)
    assert [r["aggregate_reward_score"] for r in results] == pytest.approx(expected)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_documented_payload_scores_at_the_http_door(shape: str, url: str) -> None:
    payload, expected = SHAPES[shape]
    response = httpx.post(f"{url}/v1/nova", json=payload)
    assert response.status_code == 200, response.text
    results = response.json()
    assert validate_nova_output(results) == []
    assert [r["aggregate_reward_score"] for r in results] == pytest.approx(expected)


def failing(n: int) -> list[dict[str, Any]]:
    return [{"id": f"e{i}", "messages": [turn("user", "q"), turn("assistant", "ERROR")]} for i in range(n)]


def test_a_mostly_unscored_batch_fails_the_invocation_with_its_reasons(lambda_env: None) -> None:
    with pytest.raises(MostlyUnscored, match=r"2 of 3 samples unscored.*scripted backend error") as raised:
        handler(BEDROCK + failing(2), LocalContext())
    assert {sid for sid, _ in raised.value.unscored} == {"e0", "e1"}
    half = handler(BEDROCK + failing(1), LocalContext())  # 50 % is not more than the default share
    assert [unscored(r) for r in half] == [0.0, 1.0]


def test_the_share_is_configurable(lambda_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGERL_MAX_UNSCORED_SHARE", "1")
    results = handler(failing(3), LocalContext())
    assert [r["aggregate_reward_score"] for r in results] == [0.5, 0.5, 0.5]
    from judgerl.serve import lambda_handler

    lambda_handler.reset()
    monkeypatch.setenv("JUDGERL_MAX_UNSCORED_SHARE", "0")
    with pytest.raises(MostlyUnscored, match="1 of 2 samples unscored"):
        handler(BEDROCK + failing(1), LocalContext())


def test_the_http_door_answers_503_naming_the_reasons(url: str) -> None:
    response = httpx.post(f"{url}/v1/nova", json=BEDROCK + failing(2))
    assert response.status_code == 503
    body = response.json()
    assert "2 of 3 samples unscored" in body["error"] and "scripted backend error" in body["error"]
    assert [item["id"] for item in body["detail"]] == ["e0", "e1"]


def test_lambda_invoke_exits_non_zero_on_a_failed_batch(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(failing(2)))
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'tests'}",
        "JUDGERL_RUBRIC": str(RUBRIC_PATH),
        "JUDGERL_BACKEND": "support.serve:ServeBackend",
    }
    command = [sys.executable, "-m", "judgerl", "lambda", "invoke", "--event", str(event)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 1
    assert "error: the invocation failed: 2 of 2 samples unscored" in result.stderr
    assert "Traceback" not in result.stderr
