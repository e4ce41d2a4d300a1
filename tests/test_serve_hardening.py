"""Issue 14: the reward server under bad input, slow clients and failing judges (see docs/serving.md)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from judgerl.serve.openrlhf import DEFAULT_STRIP_TOKENS, split_response, strip_trailing
from judgerl.serve.server import BackgroundServer, ServerSettings, create_app
from serve_support import judge_config

TOKEN = "hardening-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def running(judge: dict[str, Any] | None = None, **settings: Any) -> Iterator[str]:
    built = judge_config(**(judge or {})).build()
    try:
        with BackgroundServer(create_app(built, ServerSettings(**settings))) as server:
            yield server.url
    finally:
        built.close()


def test_stripping_many_trailing_tokens_is_linear() -> None:
    query = "prompt: answer" + "<|endoftext|>" * 256_000  # 3.3 MB; the old loop copied it once per token
    started = time.perf_counter()
    assert split_response(query, "prompt:") == " answer"
    assert time.perf_counter() - started < 1.0
    assert strip_trailing("a </s> \n<|im_end|>  </s>\n", DEFAULT_STRIP_TOKENS) == "a"
    assert strip_trailing("<pad>", DEFAULT_STRIP_TOKENS) == ""
    assert strip_trailing("keep </s> inside", DEFAULT_STRIP_TOKENS) == "keep </s> inside"


def test_a_huge_query_does_not_freeze_health() -> None:
    query = "prompt: good answer" + "<|endoftext|>" * 256_000
    with running(max_body_bytes=8 * 1024 * 1024) as url:
        result: dict[str, Any] = {}

        def post() -> None:
            result["response"] = httpx.post(
                f"{url}/get_reward", json={"query": [query], "prompts": ["prompt:"]}, timeout=60
            )

        thread = threading.Thread(target=post)
        thread.start()
        time.sleep(0.2)
        started = time.perf_counter()
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200
        assert time.perf_counter() - started < 2.0
        thread.join()
        assert result["response"].status_code == 200
        assert result["response"].json()["rewards"] == [pytest.approx(0.9)]
