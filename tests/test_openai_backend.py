"""The openai backend through its real HTTP client against the loopback stub server (127.0.0.1)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from judgerl import Rubric, Sample
from judgerl.backends import build_backend
from judgerl.backends.base import JudgePrompt
from judgerl.backends.openai_backend import OpenAIBackend, normalise_base_url
from judgerl.errors import BackendUnavailable, JudgerlError
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.samples import PairSample
from judgerl.testing.stub_server import FaultPlan, StubChatServer, default_p_first

RUBRIC = Rubric.from_dict(
    {"criteria": [{"name": "correct", "text": "The answer is correct."}, {"name": "brief", "text": "It is brief."}]}
)
PROMPT = JudgePrompt(system="You judge.", user="Is the response correct? Answer PASS or FAIL.")
# generous: this machine is shared, and a timeout here would only turn into a retry
FAST = {"timeout_s": 5.0, "retry_base_s": 0.01, "retry_max_s": 0.05, "breaker_reset_s": 0.2}


@pytest.fixture
def server() -> Iterator[StubChatServer]:
    with StubChatServer() as stub:
        yield stub


def backend_for(*servers: StubChatServer, **options: object) -> OpenAIBackend:
    merged = {**FAST, **options}
    backend = build_backend("openai", model="stub-judge", base_urls=[s.base_url for s in servers], **merged)
    assert isinstance(backend, OpenAIBackend)
    return backend


def samples(count: int) -> list[Sample]:
    return [Sample(id=f"s{i}", prompt=f"What is {i} + {i}?", response=f"It is {2 * i}.") for i in range(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_base_url_forms() -> None:
    assert normalise_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert normalise_base_url("https://host/openai/v1/") == "https://host/openai/v1"
    with pytest.raises(JudgerlError, match="expected http"):
        normalise_base_url("127.0.0.1:8000")


def test_logprob_mode_reads_the_servers_probabilities(server: StubChatServer) -> None:
    backend = backend_for(server)
    (result,) = backend.label_probs([PROMPT], ["PASS", "FAIL"])
    expected = default_p_first(backend._messages(PROMPT, ["PASS", "FAIL"]))
    assert result.error is None and result.probs is not None
    assert result.probs["PASS"] == pytest.approx(expected, abs=1e-9)
    assert result.mass == pytest.approx(0.97) and result.prompt_tokens > 0 and result.completion_tokens == 1
    assert backend.supports_logprobs  # settled by a probe request
    verdicts = RubricJudge(RUBRIC, backend, rationales="none", concurrency=4).judge(samples(6))
    assert all(v.scored and v.mode == "logprob" and v.prompt_tokens > 0 for v in verdicts)
    # the same sample judged twice reads the same probabilities
    again = RubricJudge(RUBRIC, backend, rationales="none").judge(samples(6))
    assert [v.score for v in again] == [v.score for v in verdicts]


def test_pairwise_through_the_server(server: StubChatServer) -> None:
    backend = backend_for(server)
    pairs = [PairSample(id=str(i), prompt="Say hi.", response_a=f"hi {i}", response_b="hello") for i in range(4)]
    verdicts = PairwiseJudge(backend).judge(pairs)
    assert all(v.scored and v.p_a_first_order is not None for v in verdicts)


def test_server_without_logprobs_falls_back_to_generate_mode(caplog: pytest.LogCaptureFixture) -> None:
    for stub_options in ({"logprobs": False}, {"reject_logprobs": True}):
        with StubChatServer(**stub_options) as stub, caplog.at_level(logging.WARNING):  # type: ignore[arg-type]
            caplog.clear()
            backend = backend_for(stub)
            judge = RubricJudge(RUBRIC, backend, concurrency=4)
            assert judge.mode == "generate" and backend.supports_logprobs is False
            verdicts = judge.judge(samples(5))
            assert all(v.scored and v.mode == "generate" and v.completion_tokens > 0 for v in verdicts)
            notices = [r for r in caplog.records if "probabilities" in r.getMessage()]
            assert len(notices) == 1 and "generate mode" in notices[0].getMessage()  # said once
            with pytest.raises(JudgerlError, match="token probabilities"):
                PairwiseJudge(backend)


def test_reasoning_model_gets_max_completion_tokens() -> None:
    with StubChatServer(reject_max_tokens=True) as stub:
        backend = backend_for(stub, logprobs=False)
        replies = backend.generate([PROMPT, PROMPT, PROMPT], max_new_tokens=64)
        assert all(r.error is None and r.text for r in replies)
        # at most one rejected request per prompt that was in flight before the switch; none after
        before = stub.stats.requests["/v1/chat/completions"]
        backend.generate([PROMPT], max_new_tokens=64)
        assert stub.stats.requests["/v1/chat/completions"] == before + 1 and before <= 6


def test_api_key_from_the_environment_and_never_shown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with StubChatServer(api_key="sk-right-key") as stub:
        monkeypatch.setenv("JUDGE_KEY", "sk-right-key")
        good = backend_for(stub, api_key_env="JUDGE_KEY")
        assert "sk-right-key" not in repr(good)
        assert good.generate([PROMPT])[0].error is None
        monkeypatch.setenv("JUDGE_KEY", "sk-wrong-secret")
        bad = backend_for(stub, api_key_env="JUDGE_KEY")
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(BackendUnavailable) as raised:
                bad.generate([PROMPT])
            with pytest.raises(BackendUnavailable) as checked:
                bad.check()
        for message in (str(raised.value), str(checked.value)):
            assert "\n" not in message and "rejected the API key" in message and "$JUDGE_KEY" in message
            assert "sk-wrong-secret" not in message  # the stub echoes the key back, as some servers do
        assert all("sk-wrong-secret" not in r.getMessage() for r in caplog.records)
    with pytest.raises(BackendUnavailable, match="OPENAI_API_KEY"):
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        build_backend("openai", model="gpt-4o-mini")


def test_wrong_model_name_is_one_line(server: StubChatServer) -> None:
    backend = build_backend("openai", model="no-such-model", base_urls=[server.base_url], **FAST)
    with pytest.raises(BackendUnavailable) as raised:
        backend.check()
    message = str(raised.value)
    assert "model 'no-such-model' not found" in message and "stub-judge" in message and "\n" not in message
    # and through a judge, without check(): the set-up error stops the run instead of unscoring everything
    with pytest.raises(BackendUnavailable, match="no-such-model"):
        RubricJudge(RUBRIC, backend, mode="generate").judge(samples(3))


def test_unreachable_server_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    backend = build_backend("openai", model="m", base_urls=[url], **{**FAST, "max_attempts": 2})
    with pytest.raises(BackendUnavailable) as raised:
        backend.check()
    assert str(raised.value).startswith(f"cannot reach the judge server at {url}/v1") and "\n" not in str(raised.value)
    with pytest.raises(BackendUnavailable, match="did not answer"):
        RubricJudge(RUBRIC, backend, mode="generate").judge(samples(2))


def test_requests_in_flight_are_bounded() -> None:
    with StubChatServer(latency_s=0.05) as stub:
        backend = backend_for(stub, max_concurrency=3, logprobs=True)
        results = backend.label_probs([JudgePrompt(system="", user=f"q{i}") for i in range(24)], ["PASS", "FAIL"])
        assert all(r.probs is not None for r in results)
        assert stub.stats.max_in_flight <= 3


def test_load_is_spread_and_a_dead_url_is_avoided() -> None:
    with StubChatServer() as first, StubChatServer() as second:
        backend = backend_for(first, second, logprobs=True)
        RubricJudge(RUBRIC, backend, rationales="none", concurrency=8).judge(samples(20))
        served = [s.stats.requests["/v1/chat/completions"] for s in (first, second)]
        assert sum(served) == 40 and min(served) >= 10
    with StubChatServer() as alive:
        dead = f"http://127.0.0.1:{free_port()}/v1"
        backend = build_backend(
            "openai",
            model="stub-judge",
            base_urls=[dead, alive.base_url],
            logprobs=True,
            breaker_failures=2,
            **{**FAST, "breaker_reset_s": 60.0},
        )
        verdicts = RubricJudge(RUBRIC, backend, rationales="none", concurrency=8).judge(samples(30))
        assert all(v.scored for v in verdicts)
        report = backend.call_stats()
        assert report.circuit_opens >= 1 and report.failed == 0
        assert report.per_endpoint_attempts[alive.base_url] == 60
        assert report.per_endpoint_attempts[dead] < 10  # the open circuit kept traffic away


def test_scripted_faults_are_retried_and_counted() -> None:
    script = ["rate_limit", "unavailable", "server_error", "drop", "truncated", "empty_choices", None]
    with StubChatServer(script=script, faults=FaultPlan(retry_after_s=0.05)) as stub:
        backend = backend_for(stub, logprobs=True, max_attempts=8)
        (result,) = backend.label_probs([PROMPT], ["PASS", "FAIL"])
        assert result.probs is not None
        report = backend.call_stats()
        assert report.attempts == 7 and report.retries == 6 and report.succeeded == 1
        assert report.attempt_failures == {"rate_limited": 1, "server_error": 2, "connection": 1, "malformed": 2}
        assert report.retry_wait_s >= 0.1  # two Retry-After cooldowns of 0.05 s were honoured


def test_timeouts_give_up_with_the_reason() -> None:
    with StubChatServer(faults=FaultPlan(rate=1.0, kinds=("timeout",), hang_s=30)) as stub:
        backend = backend_for(stub, logprobs=True, timeout_s=0.3, max_attempts=2)
        backend._ever_succeeded = True  # a server that answered before and then hangs: per-prompt errors
        (result,) = backend.label_probs([PROMPT], ["PASS", "FAIL"])
        assert result.probs is None and result.error is not None
        assert "no reply" in result.error and "within 0.3 s" in result.error and "gave up after 2" in result.error


@pytest.mark.parametrize("fault", ["garbage", "off_menu"])
def test_garbage_and_off_menu_replies_are_never_scored(fault: str) -> None:
    with StubChatServer(faults=FaultPlan(rate=1.0, kinds=(fault,))) as stub:
        backend = backend_for(stub, logprobs=True)
        (verdict,) = RubricJudge(RUBRIC, backend, rationales="none").judge(samples(1))
        assert verdict.score is None and "none of PASS/FAIL" in (verdict.unscored_reason or "")
        (generated,) = RubricJudge(RUBRIC, backend, mode="generate").judge(samples(1))  # the label read alike
        assert generated.score is None and "none of PASS/FAIL" in (generated.unscored_reason or "")
        backend.supports_logprobs = False  # verdicts parsed from generated text
        (generated,) = RubricJudge(RUBRIC, backend, mode="generate").judge(samples(1))
        assert generated.score is None and "unparsable judge reply" in (generated.unscored_reason or "")
        assert generated.raw_reply  # the raw reply is kept for inspection


def test_repeated_sync_calls_leave_no_connections_open(server: StubChatServer) -> None:
    backend = backend_for(server, logprobs=True)
    for _ in range(3):
        RubricJudge(RUBRIC, backend, rationales="none", concurrency=4).judge(samples(4))
    deadline = time.monotonic() + 10
    while server._writers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server._writers  # each run's client was closed with its event loop
