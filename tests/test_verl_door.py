"""verl's custom reward function, loaded the way verl loads it (by file path, as 'custom_module')."""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import judgerl.serve.verl as verl_door
from judgerl.errors import JudgerlError
from judgerl.serve.contract import UnscoredSamples
from judgerl.serve.server import BackgroundServer, ServerSettings, create_app
from support.serve import RUBRIC_PATH, judge_config

TOKEN = "verl-token"
LOCAL = {"rubric": str(RUBRIC_PATH), "backend": "support.serve:ServeBackend", "rationales": "none"}
KEYS = {"score", "unscored", "judge_latency_s", "safe", "correct", "polite"}
BATCH: dict[str, list[Any]] = {
    "data_sources": ["openai/gsm8k", "openai/gsm8k", "openai/gsm8k", "openai/gsm8k"],
    "solution_strs": ["good: 72 #### 72", "bad: 70 #### 70", "ERROR", "plain"],
    "ground_truths": ["72", "72", "10", {"answer": "5"}],
    "extra_infos": [
        {"split": "train", "index": 0, "question": "Natalia sold clips to 48 of her friends..."},
        {"split": "train", "index": 1, "question": "Weng earns $12 an hour..."},
        {"split": "train", "index": 2, "prompt": [{"role": "user", "content": "Betty is saving money..."}]},
        None,
    ],
}


def load_like_verl(name: str, reward_kwargs: dict[str, Any]) -> Callable[..., Any]:
    """verl's get_custom_reward_fn: import the file as 'custom_module', merge reward_kwargs into each call."""
    path = verl_door.__file__
    spec = importlib.util.spec_from_file_location("custom_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_module"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["custom_module"]
    raw = getattr(module, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return raw(*args, **{**kwargs, **reward_kwargs})

    return wrapped


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    built = judge_config(rationales="none").build()
    try:
        with BackgroundServer(create_app(built, ServerSettings(token=TOKEN))) as server:
            yield server.url
    finally:
        built.close()


def test_naive_manager_calls_per_sample_in_process() -> None:
    compute_score = load_like_verl("compute_score", LOCAL)
    results = [
        compute_score(data_source=source, solution_str=solution, ground_truth=truth, extra_info=info)
        for source, solution, truth, info in zip(*BATCH.values(), strict=True)
    ]
    assert all(set(r) == KEYS for r in results)  # verl appends every key per sample: they must not vary
    assert [r["score"] for r in results] == pytest.approx([0.9, 0.2, 0.5, 0.6])
    assert [r["unscored"] for r in results] == [0.0, 0.0, 1.0, 0.0]
    assert results[2]["correct"] == 0.5  # an unscored criterion carries the policy's value


def test_batch_manager_through_the_server_matches_in_process(server_url: str) -> None:
    remote = load_like_verl("compute_score_batch", {"server_url": server_url, "token": TOKEN})(**BATCH)
    local = load_like_verl("compute_score_batch", LOCAL)(**BATCH)

    def without_latency(results: list[dict[str, float]]) -> list[dict[str, float]]:
        return [{k: v for k, v in r.items() if k != "judge_latency_s"} for r in results]

    assert without_latency(remote) == without_latency(local)
    chunked = verl_door.compute_score_batch(**BATCH, server_url=server_url, token=TOKEN, batch_size=3)
    assert without_latency(chunked) == without_latency(remote)


def test_the_prompt_comes_from_extra_info() -> None:
    samples = [verl_door.sample_from_verl(i, *row) for i, row in enumerate(zip(*BATCH.values(), strict=True))]
    assert samples[0].prompt == "Natalia sold clips to 48 of her friends..."
    assert samples[0].id == "openai/gsm8k:0" and samples[3].id == "3"
    assert samples[2].prompt[0].content == "Betty is saving money..."  # type: ignore[union-attr]
    assert samples[3].reference == '{"answer": "5"}'


def test_failure_policy_and_connection_problems(server_url: str) -> None:
    zero = verl_door.compute_score_batch(**BATCH, **LOCAL, unscored="zero")
    assert [r["score"] for r in zero] == pytest.approx([0.9, 0.2, 0.0, 0.6])
    with pytest.raises(UnscoredSamples, match="openai/gsm8k:2"):
        verl_door.compute_score_batch(**BATCH, server_url=server_url, token=TOKEN, unscored="error")
    with pytest.raises(JudgerlError, match="HTTP 401: missing or wrong bearer token"):
        verl_door.compute_score_batch(**BATCH, server_url=server_url, token="wrong")
    with pytest.raises(JudgerlError, match="verl reward_kwargs: field 'unscored'"):
        verl_door.compute_score_batch(**BATCH, **LOCAL, unscored="maybe")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(RuntimeError, match="no answer after 3 attempts"):
        verl_door.compute_score("d", "x", "y", {"question": "q"}, server_url=f"http://127.0.0.1:{port}")


def test_lone_surrogates_in_a_question_are_judged_through_the_server(server_url: str) -> None:
    """The old client failed the whole batch with UnicodeEncodeError while encoding the request (issue 28)."""
    batch = {
        "data_sources": ["openai/gsm8k", "openai/gsm8k"],
        "solution_strs": ["good: 72 \udfff", "good: 72"],
        "ground_truths": ["72", "72"],
        "extra_infos": [{"index": 0, "question": "How many \ud800 clips?"}, {"index": 1, "question": "fine"}],
    }
    results = load_like_verl("compute_score_batch", {"server_url": server_url, "token": TOKEN})(**batch)
    assert [r["unscored"] for r in results] == [0.0, 0.0]
    assert results[0]["score"] == results[1]["score"]
