"""Issue 28: seeded random raw-HTTP framing, hostile JSON for every HTTP route and Lambda API-Gateway events; no 5xx,
no unhandled exception, no traceback.

Hundreds of cases here, thousands in benchmarks/serve_fuzz.py (the same generators and senders,
judgerl.testing.fuzz)."""

from __future__ import annotations

import logging
import random

import pytest

from judgerl.errors import JudgerlError
from judgerl.judges.outcome import UnscoredPolicy
from judgerl.serve import lambda_handler
from judgerl.testing.fuzz import (
    JSON_ROUTES,
    api_gateway_event,
    framing_case,
    route_request,
    run_event,
    send_raw,
    send_raw_all,
    send_routes,
)
from support.serve import RUBRIC_PATH, running

FRAMING_CASES = 300
ROUTE_REQUESTS = 350  # about 50 a route
EVENTS = 400
TOKEN = "fuzz-framing-token"


def test_raw_http_framing_never_gets_a_5xx_or_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(28)
    cases = [framing_case(rng) for _ in range(FRAMING_CASES)]
    statuses: dict[int | None, int] = {}
    with caplog.at_level(logging.INFO), running({}, body_timeout_s=1.0, header_timeout_s=1.0) as url:
        answers = send_raw_all(url, cases)
    for index, (case, status) in enumerate(zip(cases, answers, strict=True)):
        statuses[status] = statuses.get(status, 0) + 1
        assert status is None or status < 500, (index, case[:300])
    assert statuses.get(400, 0) > 0 and statuses.get(200, 0) > 0, statuses  # both kinds of case ran
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage()[:200] for r in tracebacks]


def test_hostile_json_on_every_route_never_gets_a_5xx_or_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(28)
    requests = [route_request(rng) for _ in range(ROUTE_REQUESTS)]
    # a Nova batch past the unscored share fails on purpose (503, tests/test_nova_conformance.py): not tested here
    settings = {"token": TOKEN, "policy": UnscoredPolicy(max_unscored_share=1.0), "max_body_bytes": 1024 * 1024}
    with caplog.at_level(logging.INFO), running({"pairwise": True}, **settings) as url:
        statuses = send_routes(url, requests, token=TOKEN)
    for index, ((method, path, body), status) in enumerate(zip(requests, statuses, strict=True)):
        assert 0 < status < 500, (index, method, path, body[:300])
    assert {path for _, path, _ in requests} == {path for _, path in JSON_ROUTES}
    assert statuses.count(200) > 0 and statuses.count(422) > 0  # both judged and refused bodies ran
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage()[:200] for r in tracebacks]


def test_content_length_with_chunked_encoding_is_a_400() -> None:
    body = b'{"samples": [{"id": "a", "prompt": "q", "response": "good"}]}'
    request = (
        b"POST /v1/judge HTTP/1.1\r\nHost: judge\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    with running({}) as url:
        host, port = url.removeprefix("http://").split(":")
        assert send_raw(host, int(port), request) == 400  # the old server answered 500


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGERL_RUBRIC", str(RUBRIC_PATH))
    monkeypatch.setenv("JUDGERL_BACKEND", "support.serve:ServeBackend")
    lambda_handler.reset()
    yield
    lambda_handler.reset()


def test_api_gateway_events_are_judged_or_refused_in_one_line(lambda_env: None) -> None:
    rng = random.Random(2028)
    outcomes = {"judged": 0, "refused": 0, "other": 0}
    for _ in range(EVENTS):
        outcome, problem = run_event(api_gateway_event(rng))  # a mostly unscored batch is refused on purpose
        assert outcome != "other", problem
        outcomes[outcome] += 1
    assert outcomes["judged"] > 0 and outcomes["refused"] > 0, outcomes


@pytest.mark.parametrize(
    "body", ["[" * 100_000 + "]" * 100_000, '[{"id": ' + "9" * 5000 + "}]"], ids=["deep", "long-int"]
)
def test_hostile_api_gateway_bodies_are_one_line_errors(lambda_env: None, body: str) -> None:
    with pytest.raises(JudgerlError, match="event body is not valid JSON"):  # RecursionError, ValueError before
        lambda_handler.handler({"body": body}, lambda_handler.LocalContext())
