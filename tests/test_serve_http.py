"""The reward server over real sockets: uvicorn on 127.0.0.1 (a free port), OpenRLHF- and Nova-shaped clients."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from judgerl.serve import lambda_handler
from judgerl.serve.contract import RewardScorer, UnscoredPolicy
from judgerl.serve.lambda_handler import LocalContext
from judgerl.serve.nova import nova_result, parse_lenient, validate_nova_output
from support.serve import DATA, RUBRIC_PATH, PeakBackend, judge_config, running

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEMPLATE = "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running({"pairwise": True, "rationales": "failures"}, token=TOKEN) as base:
        yield base


def nova_event(name: str = "nova_bedrock_event.json") -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((DATA / name).read_text())
    return loaded


def test_health_is_open_and_describes_the_judge(url: str) -> None:
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ok" and health["pairwise"] is True
    assert health["rubric"] == {"name": "support-reply", "criteria": ["safe", "correct", "polite"]}
    assert health["policy"] == {"unscored": "neutral", "neutral_value": 0.5, "max_unscored_share": 0.5}


def test_nova_route_answers_like_the_lambda(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = httpx.post(f"{url}/v1/nova", json=nova_event(), headers=AUTH)
    assert response.status_code == 200
    served = response.json()
    assert validate_nova_output(served) == []
    monkeypatch.setenv("JUDGERL_RUBRIC", str(RUBRIC_PATH))
    monkeypatch.setenv("JUDGERL_BACKEND", "support.serve:ServeBackend")
    lambda_handler.reset()
    try:
        from_lambda = lambda_handler.handler(nova_event(), LocalContext())
    finally:
        lambda_handler.reset()

    def comparable(results: list[dict[str, Any]]) -> list[Any]:
        return [
            (r["id"], r["aggregate_reward_score"], [(m["name"], m["type"]) for m in r["metrics_list"]]) for r in results
        ]

    assert comparable(served) == comparable(from_lambda)
    sagemaker = httpx.post(f"{url}/v1/nova", json=nova_event("nova_sagemaker_event.json"), headers=AUTH).json()
    assert [(r["id"], r["aggregate_reward_score"]) for r in sagemaker] == [
        ("chem-001", pytest.approx(0.9)),
        ("math-001", pytest.approx(0.2)),
    ]


def test_openrlhf_client_gets_tensors_it_can_use(url: str) -> None:
    torch = pytest.importorskip("torch")
    questions = ["What is 2+2?", "Capital of France?", "Say hi.", "Explain."]
    answers = ["good: 4<|im_end|>", "bad: Lyon<|im_end|><|endoftext|>", "hello", "ERROR"]
    prompts = [TEMPLATE.format(q=q) for q in questions]
    payload = {
        "query": [p + a for p, a in zip(prompts, answers, strict=True)],
        "prompts": prompts,
        "labels": ["4", "Paris", None, ""],
        "metas": [{}, {}, {}, {}],  # newer clients send it; ignored
    }
    # exactly OpenRLHF's request_api_wrapper (openrlhf/utils/remote_rm_utils.py)
    response = requests.post(
        url=f"{url}/get_reward", json=payload, headers={"Content-Type": "application/json", **AUTH}, timeout=180
    )
    response.raise_for_status()
    body = response.json()
    assert body["rewards"] == pytest.approx([0.9, 0.2, 0.6, 0.5])
    rewards = torch.tensor(body["rewards"])  # remote_rm_fn: torch.tensor(scores)
    scores = torch.tensor(body["scores"])
    assert rewards.shape == scores.shape == (4,)
    # experience_maker: each extra_logs value is concatenated and split per sample
    logs = {key: torch.tensor(values).split([2, 2]) for key, values in body["extra_logs"].items()}
    assert set(logs) == {"unscored", "judge_latency_s", "safe", "correct", "polite"}
    assert body["extra_logs"]["unscored"] == [0.0, 0.0, 0.0, 1.0]
    assert body["extra_logs"]["correct"] == pytest.approx([0.9, 0.2, 0.6, 0.5])  # the unscored one: policy value


def test_openrlhf_query_without_its_prompt_is_unscored_not_guessed(url: str) -> None:
    payload = {"query": ["something else entirely"], "prompts": [TEMPLATE.format(q="x")], "labels": ["y"]}
    body = httpx.post(f"{url}/get_reward", json=payload, headers=AUTH).json()
    assert body["rewards"] == [0.5] and body["extra_logs"]["unscored"] == [1.0]
    # no prompts: the whole query is the response
    body = httpx.post(f"{url}/get_reward", json={"query": ["good answer</s>"]}, headers=AUTH).json()
    assert body["rewards"] == pytest.approx([0.9])


def test_judge_route_gives_verdicts_with_rationales_and_pairs(url: str) -> None:
    samples = [{"id": "s1", "prompt": "q", "response": "bad answer", "reference": "r"}]
    body = httpx.post(f"{url}/v1/judge", json={"samples": samples}, headers=AUTH).json()
    (verdict,) = body["verdicts"]
    assert verdict["id"] == "s1" and verdict["score"] == pytest.approx(0.2)
    failed = [c for c in verdict["criteria"] if c["passed"] is False]
    assert [c["name"] for c in failed] == ["correct", "polite"] and all(c["rationale"] for c in failed)
    pairs = [
        {"id": "p1", "prompt": "q", "response_a": "good one", "response_b": "meh"},
        {"id": "p2", "prompt": "q", "response_a": "meh", "response_b": "good one"},
    ]
    body = httpx.post(f"{url}/v1/judge", json={"pairs": pairs}, headers=AUTH).json()
    assert [(v["id"], v["winner"]) for v in body["pair_verdicts"]] == [("p1", "A"), ("p2", "B")]
    assert body["consistency_rate"] == 1.0
    both = httpx.post(f"{url}/v1/judge", json={"samples": samples, "pairs": pairs}, headers=AUTH)
    assert both.status_code == 422 and "exactly one of 'samples'" in both.json()["error"]


def test_pairs_need_a_pairwise_server() -> None:
    with running() as base:
        pairs = [{"id": "p1", "prompt": "q", "response_a": "a", "response_b": "b"}]
        response = httpx.post(f"{base}/v1/judge", json={"pairs": pairs})
    assert response.status_code == 422 and response.json()["error"].startswith(
        "pairs: this server judges single samples only"
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}],
)
def test_wrong_or_missing_token_is_401(url: str, headers: dict[str, str]) -> None:
    for method, path, body in [("POST", "/v1/nova", nova_event()), ("POST", "/get_reward", {"query": ["a"]})]:
        response = httpx.request(method, f"{url}{path}", json=body, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"] == "missing or wrong bearer token"
    assert httpx.get(f"{url}/metrics", headers=headers).status_code == 401


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]
    return message


def test_bad_input_gets_a_4xx_naming_the_field(url: str) -> None:
    post = lambda path, **kw: httpx.post(f"{url}{path}", headers={**AUTH, **kw.pop("headers", {})}, **kw)  # noqa: E731
    assert _error(post("/v1/nova", json=[]), 422) == "body: the batch is empty; send at least one sample"
    missing_id = [{"messages": [{"role": "assistant", "content": "x"}]}]
    assert _error(post("/v1/nova", json=missing_id), 422) == "body[0].id: Field required"
    wrong_type = [{"id": "1", "messages": "hello"}]
    assert _error(post("/v1/nova", json=wrong_type), 422).startswith("body[0].messages:")
    user_last = [{"id": "1", "messages": [{"role": "user", "content": "x"}]}]
    assert "body[0].messages[-1].role: the last message must be the assistant's" in _error(
        post("/v1/nova", json=user_last), 422
    )
    assert _error(post("/v1/nova", json={"id": "1"}), 422).startswith("body:")
    not_json = post("/v1/nova", content=b"[{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422 and "JSON" in not_json.json()["error"]
    mismatch = {"query": ["a", "b"], "prompts": ["a"]}
    assert "prompts has 1 items but query has 2" in _error(post("/get_reward", json=mismatch), 422)
    assert _error(post("/get_reward", json={"query": "a"}), 422).startswith("body.query:")
    assert _error(post("/get_reward", json={"query": []}), 422) == "query: the batch is empty; send at least one sample"
    assert _error(post("/v1/judge", json={"samples": [{"id": "1"}]}), 422).startswith("body.samples[0].prompt")


def test_limits_on_body_and_batch_size() -> None:
    with running(max_body_bytes=4096, max_batch=3) as base:
        big = [{"id": str(i), "messages": [{"role": "assistant", "content": "x" * 500}]} for i in range(10)]
        message = _error(httpx.post(f"{base}/v1/nova", json=big), 413)
        assert "larger than the server's limit of 4096 bytes" in message

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
            yield b"["
            for _ in range(100):
                yield b'{"id": "1", "messages": [{"role": "assistant", "content": "xxxxxxxxxxxxxxxxxxxx"}]},'
            yield b"{}]"

        streamed = httpx.post(f"{base}/v1/nova", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        four = [{"id": str(i), "messages": [{"role": "assistant", "content": "x"}]} for i in range(4)]
        assert _error(httpx.post(f"{base}/v1/nova", json=four), 413) == "body: 4 samples exceed the server's limit of 3"
        assert httpx.post(f"{base}/v1/nova", json=four[:3]).status_code == 200  # no token configured: open


def test_error_policy_answers_503_with_the_unscored_ids() -> None:
    with running(policy=UnscoredPolicy(unscored="error")) as base:
        payload = {"query": ["good", "ERROR", "bad"]}
        response = httpx.post(f"{base}/get_reward", json=payload)
        assert response.status_code == 503
        assert [d["id"] for d in response.json()["detail"]] == ["1"]
        assert "1 sample(s) unscored under the 'error' policy" in response.json()["error"]
        metrics = httpx.get(f"{base}/metrics").text
    assert 'judgerl_unscored_total{route="/get_reward"} 1' in metrics
    assert 'judgerl_requests_total{route="/get_reward",status="503"} 1' in metrics


def test_request_time_limit_unscores_late_samples() -> None:
    with running(request_timeout_s=1.0) as base:
        payload = {"query": ["good", "SLOW good", "bad"]}
        body = httpx.post(f"{base}/get_reward", json=payload, timeout=30).json()
    assert body["extra_logs"]["unscored"] == [0.0, 1.0, 0.0]
    assert body["rewards"] == pytest.approx([0.9, 0.5, 0.2])


def _metric(text: str, line_start: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(line_start + " ")]
    return float(line.rsplit(" ", 1)[1])


def test_metrics_count_requests_samples_unscored_and_cache_hits(tmp_path: Path) -> None:
    with running({"cache_path": str(tmp_path / "cache.sqlite"), "rationales": "none"}) as base:
        payload = {"query": ["good", "bad", "ERROR"]}
        for _ in range(2):
            assert httpx.post(f"{base}/get_reward", json=payload).status_code == 200
        assert httpx.post(f"{base}/v1/nova", json=nova_event()).status_code == 200
        text = httpx.get(f"{base}/metrics").text
    assert _metric(text, 'judgerl_requests_total{route="/get_reward",status="200"}') == 2
    assert _metric(text, 'judgerl_samples_total{route="/get_reward"}') == 6
    assert _metric(text, 'judgerl_unscored_total{route="/get_reward"}') == 2
    assert _metric(text, 'judgerl_samples_total{route="/v1/nova"}') == 3
    # the second identical request hit the cache for the 2 scored samples x 3 criteria
    assert _metric(text, "judgerl_cache_hits_total") == 6
    assert _metric(text, 'judgerl_request_duration_seconds_count{route="/get_reward"}') == 2
    assert "# TYPE judgerl_judge_latency_seconds histogram" in text
    assert _metric(text, 'judgerl_judge_latency_seconds_bucket{le="+Inf"}') == 9


def test_concurrent_clients_get_their_own_answers_in_order(url: str) -> None:
    """8 clients x 5 requests of 4 samples: no lost, duplicated or swapped responses (bounded)."""
    words = ["good", "bad", "plain", "good"]
    expected = [0.9, 0.2, 0.6, 0.9]
    failures: list[str] = []

    def client(number: int) -> None:
        with httpx.Client(headers=AUTH, timeout=60) as session:
            for request in range(5):
                ids = [f"c{number}-r{request}-s{i}" for i in range(4)]
                batch = [
                    {"id": sid, "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": w}]}
                    for sid, w in zip(ids, words, strict=True)
                ]
                results = session.post(f"{url}/v1/nova", json=batch).json()
                got = [(r["id"], round(r["aggregate_reward_score"], 6)) for r in results]
                if got != list(zip(ids, expected, strict=True)):
                    failures.append(f"client {number} request {request}: {got}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_judge_concurrency_is_honoured_beyond_the_default_thread_pool() -> None:
    """asyncio's default executor has min(32, cpus + 4) threads; the server sizes it to --concurrency."""
    PeakBackend.peak = 0
    judge = {"backend": "support.serve:PeakBackend", "backend_options": {"delay_s": 0.3}, "concurrency": 12}
    with running(judge) as base:
        payload = {"query": [f"good {i}" for i in range(12)]}
        assert httpx.post(f"{base}/get_reward", json=payload, timeout=60).status_code == 200
    assert PeakBackend.peak == 12


@pytest.mark.integration
def test_a_real_in_process_judge_behind_the_server(tiny_judge_dir: Path) -> None:
    """The transformers backend (a tiny random Qwen2 judge, offline) behind /v1/nova and /get_reward, plus the
    sync door (the Lambda's path) on the same model: real probabilities, ids in order, the same rewards."""
    judge = {"backend": "transformers", "backend_options": {"model": str(tiny_judge_dir)}, "rationales": "none"}
    event = nova_event()
    with running(judge, token=TOKEN) as base:
        served = httpx.post(f"{base}/v1/nova", json=event, headers=AUTH, timeout=300).json()
        queries = [TEMPLATE.format(q="What is 2+2?") + "4<|im_end|>"]
        openrlhf = httpx.post(
            f"{base}/get_reward",
            json={"query": queries, "prompts": [TEMPLATE.format(q="What is 2+2?")], "labels": ["4"]},
            headers=AUTH,
            timeout=300,
        ).json()
    assert validate_nova_output(served) == [] and [r["id"] for r in served] == ["123", "124", "125"]
    assert all(0.0 <= r["aggregate_reward_score"] <= 1.0 for r in served)
    assert all({m["name"]: m["value"] for m in r["metrics_list"]}["unscored"] == 0.0 for r in served)
    criteria = [[m["value"] for m in r["metrics_list"] if m["type"] == "Reward"] for r in served]
    assert all(len(values) == 3 and all(0.0 < v < 1.0 for v in values) for values in criteria)
    assert openrlhf["extra_logs"]["unscored"] == [0.0] and 0.0 <= openrlhf["rewards"][0] <= 1.0

    built = judge_config(**judge).build()
    try:
        direct = [nova_result(o) for o in RewardScorer(built.rubric_judge).score(parse_lenient(event), door="test")]
    finally:
        built.close()
    assert [r["aggregate_reward_score"] for r in direct] == pytest.approx(
        [r["aggregate_reward_score"] for r in served], abs=1e-6
    )


def test_nova_route_scores_the_good_samples_of_a_batch_with_a_bad_one(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One lenient parsing rule at every door: like the Lambda, /v1/nova answers every sample, the bad one unscored
    (it used to refuse the whole batch with a 422)."""
    event = [*nova_event(), {"id": "bad", "messages": [{"role": "user", "content": "no response"}]}]
    response = httpx.post(f"{url}/v1/nova", json=event, headers=AUTH)
    assert response.status_code == 200, response.text
    served = response.json()
    assert validate_nova_output(served) == [] and [r["id"] for r in served] == [s["id"] for s in event]
    unscored = {r["id"]: next(m["value"] for m in r["metrics_list"] if m["name"] == "unscored") for r in served}
    assert unscored["bad"] == 1.0 and all(unscored[s["id"]] == 0.0 for s in nova_event())
    monkeypatch.setenv("JUDGERL_RUBRIC", str(RUBRIC_PATH))
    monkeypatch.setenv("JUDGERL_BACKEND", "support.serve:ServeBackend")
    lambda_handler.reset()
    try:
        from_lambda = lambda_handler.handler(event, LocalContext())
    finally:
        lambda_handler.reset()
    assert [(r["id"], r["aggregate_reward_score"]) for r in served] == [
        (r["id"], r["aggregate_reward_score"]) for r in from_lambda
    ]
