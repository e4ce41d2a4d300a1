"""Randomized hostile input against the live server (issue 14): lone surrogates, NaN and Infinity, deep nesting,
in ids, texts, references and metadata of every POST route. No input may give a 5xx, and every 200 answer is
strict JSON (no NaN) with one result per sample, in order. Bounded examples, derandomized."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from judgerl.judges.outcome import UnscoredPolicy
from judgerl.serve.server import BackgroundServer, ServerSettings, create_app
from support.serve import judge_config

TOKEN = "hostile-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# text with lone surrogates (category Cs), controls and the scripted judge's trigger words
text = st.one_of(
    st.text(st.characters(codec=None, categories=("Cs", "Cc", "L", "N", "P", "Zs")), max_size=40),
    st.sampled_from(["good", "bad", "NAN", "ERROR", "<|im_end|>", "</response>", "\ud800", "\udfff x"]),
)
numbers = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=30,
)
ids = st.one_of(text, st.integers(), numbers)


CLIENT: list[httpx.Client] = []


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    built = judge_config(pairwise=True, rationales="failures").build()
    # hostile replies often leave a whole batch unscored; this module tests robustness, not the batch-failure
    # policy (tests/test_nova_conformance.py), so no batch is failed for it here
    policy = UnscoredPolicy(max_unscored_share=1.0)
    settings = ServerSettings(token=TOKEN, max_batch=8, max_body_bytes=256 * 1024, request_timeout_s=5, policy=policy)
    app = create_app(built, settings)
    try:
        with BackgroundServer(app) as server, httpx.Client(headers=HEADERS, timeout=30) as client:
            CLIENT[:] = [client]
            yield server.url
    finally:
        built.close()


def _post(url: str, path: str, body: Any) -> httpx.Response:
    raw = json.dumps(body, allow_nan=True)  # NaN / Infinity / \ud800 as a careless client would send them
    response = CLIENT[0].post(f"{url}{path}", content=raw)
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        json.loads(response.text, parse_constant=_no_constants)  # strict JSON back
    return response


def _no_constants(name: str) -> None:
    raise AssertionError(f"the server answered a non-JSON constant {name}")


@EXAMPLES
@given(
    batch=st.lists(
        st.fixed_dictionaries(
            {"id": ids, "prompt": text, "response": text}, optional={"reference": nested, "metadata": nested}
        ),
        min_size=1,
        max_size=4,
    )
)
def test_judge_route_survives_hostile_samples(url: str, batch: list[dict[str, Any]]) -> None:
    response = _post(url, "/v1/judge", {"samples": batch})
    if response.status_code == 200:
        assert len(response.json()["verdicts"]) == len(batch)


@EXAMPLES
@given(queries=st.lists(text, min_size=1, max_size=4), labels=nested)
def test_get_reward_survives_hostile_queries(url: str, queries: list[str], labels: Any) -> None:
    body = {"query": [f"q:{q}" for q in queries], "prompts": ["q:"] * len(queries), "labels": [labels] * len(queries)}
    response = _post(url, "/get_reward", body)
    assert response.status_code == 200, response.text
    assert len(response.json()["rewards"]) == len(queries)


@EXAMPLES
@given(
    batch=st.lists(
        st.fixed_dictionaries(
            {"id": text, "messages": st.just(None), "reply": st.one_of(text, st.none(), numbers)},
            optional={"metadata": nested, "reference_answer": nested},
        ),
        min_size=1,
        max_size=4,
    )
)
def test_nova_route_survives_hostile_rollouts(url: str, batch: list[dict[str, Any]]) -> None:
    for item in batch:
        reply = item.pop("reply")
        item["messages"] = [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "text", "text": reply}]},
        ]
    response = _post(url, "/v1/nova", batch)
    if response.status_code == 200:
        assert len(response.json()) == len(batch)


@pytest.mark.parametrize("path", ["/v1/judge", "/get_reward", "/v1/nova"])
@pytest.mark.parametrize("depth", [200, 5_000, 50_000])
def test_deeply_nested_bodies_are_refused_or_judged_never_a_5xx(url: str, path: str, depth: int) -> None:
    deep = "__DEEP__"
    body: dict[str, Any] | list[Any] = {
        "/v1/judge": {"samples": [{"id": "a", "prompt": "q", "response": "good", "metadata": {"x": deep}}]},
        "/get_reward": {"query": ["q: good"], "prompts": ["q:"], "labels": [deep]},
        "/v1/nova": [{"id": "a", "messages": [{"role": "assistant", "content": "good"}], "metadata": {"x": deep}}],
    }[path]
    raw = json.dumps(body).replace(
        json.dumps(deep), "[" * depth + '"x"' + "]" * depth
    )  # json.dumps cannot nest so deep
    response = httpx.post(f"{url}{path}", content=raw, headers=HEADERS, timeout=30)
    assert response.status_code < 500, response.text[:300]
