"""Schemathesis against the server's own OpenAPI spec, over a real socket: no input gives a 500, every answer
is a documented status with a body matching the documented schema. Bounded number of examples per operation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from judgerl.serve.server import BackgroundServer, ServerSettings, create_app  # noqa: E402
from support.serve import judge_config  # noqa: E402

TOKEN = "fuzz-token"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
OPERATIONS = [
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("POST", "/v1/nova"),
    ("POST", "/get_reward"),
    ("POST", "/v1/judge"),
    ("POST", "/v1/fine_tuning/alpha/graders/run"),
    ("POST", "/v1/fine_tuning/alpha/graders/validate"),
]
# Random bodies pass validation often enough here; a valid Nova batch needs every sample to end on an assistant
# turn and /v1/judge exactly one of samples/pairs, rules a JSON Schema cannot state (covered by explicit tests).
REACH_THE_JUDGE = {("GET", "/health"), ("POST", "/get_reward")}
BOUNDED = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    built = judge_config(pairwise=True, rationales="failures").build()
    app = create_app(built, ServerSettings(token=TOKEN, max_batch=8, max_body_bytes=64 * 1024, request_timeout_s=5))
    try:
        with BackgroundServer(app) as server:
            yield server.url
    finally:
        built.close()


@pytest.fixture(scope="module")
def api_schema(server_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{server_url}/openapi.json")


def test_the_spec_lists_every_route(api_schema: Any) -> None:
    listed = {(r.ok().method.upper(), r.ok().path) for r in api_schema.get_all_operations()}
    assert listed == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_input_breaks_the_server(api_schema: Any, server_url: str, method: str, path: str) -> None:
    operation = api_schema[path][method]
    seen: set[int] = set()

    @BOUNDED
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        response = case.call_and_validate(
            base_url=server_url, headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS
        )
        seen.add(response.status_code)

    call()
    assert seen and max(seen) < 500
    if (method, path) in REACH_THE_JUDGE:
        assert 200 in seen, f"the examples never reached the judge: {sorted(seen)}"


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_without_the_token_only_health_answers(api_schema: Any, server_url: str, method: str, path: str) -> None:
    operation = api_schema[path][method]

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        response = case.call(base_url=server_url)
        if path == "/health":
            assert response.status_code == 200
        else:  # a body too large or malformed may be refused before the token is checked
            assert response.status_code in (401, 413, 422), response.text
            assert response.status_code == 401 or method == "POST"

    call()
