"""The bedrock backend on botocore's Stubber, which checks requests and responses against the real
bedrock-runtime service model (shapes, required fields, error codes)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from judgerl import Rubric, Sample
from judgerl.backends import build_backend
from judgerl.backends.base import JudgePrompt
from judgerl.backends.bedrock_backend import BedrockBackend
from judgerl.errors import BackendUnavailable, JudgerlError
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rubric_judge import RubricJudge
from support.fakes import FakeClock

MODEL = "amazon.nova-micro-v1:0"
PROMPT = JudgePrompt(system="You judge strictly.", user="Is 2 + 2 = 4? Reply with JSON.")


def converse_response(text: str, stop: str = "end_turn", tokens: tuple[int, int] = (40, 12)) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": tokens[0], "outputTokens": tokens[1], "totalTokens": sum(tokens)},
        "metrics": {"latencyMs": 321},
    }


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="AKIATEST", aws_secret_access_key="secret"
    )


@pytest.fixture
def stubbed(client: Any) -> Iterator[tuple[BedrockBackend, Stubber, FakeClock]]:
    clock = FakeClock()
    backend = BedrockBackend(MODEL, client=client, max_concurrency=1, clock=clock, rng_seed=0)
    with Stubber(client) as stubber:
        yield backend, stubber, clock
        stubber.assert_no_pending_responses()
    backend.close()


def test_converse_request_and_response_shapes(stubbed: tuple[BedrockBackend, Stubber, FakeClock]) -> None:
    backend, stubber, _ = stubbed
    expected = {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": PROMPT.user}]}],
        "system": [{"text": PROMPT.system}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.0},
    }
    stubber.add_response("converse", converse_response('{"verdict": "PASS"}'), expected)
    (reply,) = backend.generate([PROMPT], max_new_tokens=64)
    assert reply.error is None and reply.text == '{"verdict": "PASS"}'
    assert (reply.prompt_tokens, reply.completion_tokens) == (40, 12)
    assert backend.region == "us-east-1" and not backend.supports_logprobs


def test_rubric_judge_uses_generate_mode_and_pairwise_refuses(
    stubbed: tuple[BedrockBackend, Stubber, FakeClock],
) -> None:
    backend, stubber, _ = stubbed
    rubric = Rubric.from_dict({"criteria": [{"name": "correct", "text": "The answer is correct."}]})
    reply = json.dumps({"criteria": [{"name": "correct", "reason": "4 is right", "verdict": "PASS"}]})
    stubber.add_response("converse", converse_response(reply))
    judge = RubricJudge(rubric, backend)
    assert judge.mode == "generate"
    (verdict,) = judge.judge([Sample(id="1", prompt="2+2?", response="4")])
    assert verdict.score == 1.0 and verdict.criteria[0].rationale == "4 is right"
    assert (verdict.prompt_tokens, verdict.completion_tokens) == (40, 12)
    with pytest.raises(JudgerlError, match="token probabilities"):
        PairwiseJudge(backend)


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ThrottlingException", 429, "rate_limited"),
        ("ServiceUnavailableException", 503, "server_error"),
        ("InternalServerException", 500, "server_error"),
        ("ModelNotReadyException", 429, "server_error"),
        ("ModelTimeoutException", 408, "timeout"),
    ],
)
def test_transient_errors_are_retried_with_backoff(
    stubbed: tuple[BedrockBackend, Stubber, FakeClock], code: str, status: int, kind: str
) -> None:
    backend, stubber, clock = stubbed
    stubber.add_client_error("converse", service_error_code=code, service_message="try later", http_status_code=status)
    stubber.add_client_error("converse", service_error_code=code, service_message="try later", http_status_code=status)
    stubber.add_response("converse", converse_response("OK"))
    (reply,) = backend.generate([PROMPT])
    assert reply.text == "OK"
    report = backend.call_stats()
    assert report.attempts == 3 and report.retries == 2 and report.attempt_failures == {kind: 2}
    assert len(clock.sleeps) == 2 and all(0 <= s <= 1.0 for s in clock.sleeps)  # jittered, below 2 * base


def test_throttling_without_end_gives_up_as_an_error(stubbed: tuple[BedrockBackend, Stubber, FakeClock]) -> None:
    backend, stubber, _ = stubbed
    for _ in range(6):
        stubber.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)
    (reply,) = backend.generate([PROMPT])
    assert reply.text is None and reply.error is not None
    assert reply.error.startswith("ThrottlingException") and "gave up after 6 attempt(s)" in reply.error


def test_validation_errors_are_not_retried(stubbed: tuple[BedrockBackend, Stubber, FakeClock]) -> None:
    backend, stubber, clock = stubbed
    stubber.add_client_error(
        "converse",
        service_error_code="ValidationException",
        service_message="Input is too long for requested model.",
        http_status_code=400,
    )
    (reply,) = backend.generate([PROMPT])
    assert reply.error == "ValidationException: Input is too long for requested model."
    assert clock.sleeps == [] and backend.call_stats().attempts == 1


@pytest.mark.parametrize(
    ("code", "status", "message", "expected"),
    [
        ("AccessDeniedException", 403, "You don't have access to the model.", "refused access in us-east-1"),
        ("ResourceNotFoundException", 404, "Model not found.", f"model '{MODEL}' not found"),
        ("ValidationException", 400, "The provided model identifier is invalid.", f"model '{MODEL}' not found"),
        ("UnrecognizedClientException", 403, "The security token included in the request is invalid.", "refused"),
    ],
)
def test_set_up_errors_are_one_line(
    stubbed: tuple[BedrockBackend, Stubber, FakeClock], code: str, status: int, message: str, expected: str
) -> None:
    backend, stubber, _ = stubbed
    stubber.add_client_error("converse", service_error_code=code, service_message=message, http_status_code=status)
    with pytest.raises(BackendUnavailable) as raised:
        backend.check()
    assert expected in str(raised.value) and message in str(raised.value) and "\n" not in str(raised.value)


def test_reasoning_blocks_truncation_and_guardrails(stubbed: tuple[BedrockBackend, Stubber, FakeClock]) -> None:
    backend, stubber, _ = stubbed
    reasoning = converse_response("PASS")
    reasoning["output"]["message"]["content"].insert(0, {"reasoningContent": {"reasoningText": {"text": "hmm"}}})
    stubber.add_response("converse", reasoning)
    empty = converse_response("x", stop="max_tokens")
    empty["output"]["message"]["content"] = []
    stubber.add_response("converse", empty)
    stubber.add_response("converse", converse_response("I cannot help.", stop="guardrail_intervened"))
    first, second, third = (backend.generate([PROMPT], max_new_tokens=8)[0] for _ in range(3))
    assert first.text == "PASS"
    assert second.text is None and "no answer within 8 tokens" in (second.error or "")
    assert third.text is None and "guardrail_intervened" in (third.error or "")


def test_unreachable_endpoint_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-west-2",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="AKIATEST",
        aws_secret_access_key="secret",
    )
    clock = FakeClock()
    backend = BedrockBackend(MODEL, client=client, clock=clock, max_attempts=3)
    with pytest.raises(BackendUnavailable) as raised:  # never reached: a set-up problem, one line
        backend.check()
    message = str(raised.value)
    assert message.startswith("cannot reach Bedrock in us-west-2") and "Could not connect" in message
    assert "gave up after 3" in message and backend.call_stats().attempt_failures == {"connection": 3}
    backend._ever_answered = True  # once Bedrock has answered, a lost connection is one unscored sample
    (reply,) = backend.generate([PROMPT])
    assert reply.error is not None and "Could not connect" in reply.error


def test_construction_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with pytest.raises(BackendUnavailable, match="no AWS region"):
        build_backend("bedrock", model=MODEL)
    with pytest.raises(BackendUnavailable, match="AWS profile 'nobody' not found"):
        build_backend("bedrock", model=MODEL, region="eu-west-1", profile="nobody")
    backend = build_backend("bedrock", model=MODEL, region="eu-west-1")
    assert isinstance(backend, BedrockBackend) and backend.region == "eu-west-1"
    backend.close()
    monkeypatch.setenv("AWS_REGION", "ap-south-1")  # what AWS tooling sets; boto3 alone ignores it
    from_environment = build_backend("bedrock", model=MODEL)
    assert isinstance(from_environment, BedrockBackend) and from_environment.region == "ap-south-1"
    from_environment.close()
