"""Issue 14: the reward server under bad input, slow clients and failing judges (see docs/serving.md)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from judgerl.judges.cache import VerdictCache
from judgerl.samples import clean_text
from judgerl.serve.openrlhf import DEFAULT_STRIP_TOKENS, split_response, strip_trailing
from support.serve import RUBRIC_PATH, judge_at_once, running, while_probing_health, write_locked_cache

TOKEN = "hardening-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_stripping_many_trailing_tokens_is_linear() -> None:
    query = "prompt: answer" + "<|endoftext|>" * 256_000  # 3.3 MB; the old loop copied it once per token
    started = time.thread_time()  # CPU time: wall time on a loaded machine says little
    assert split_response(query, "prompt:") == " answer"
    assert time.thread_time() - started < 1.0  # about 0.07 s; the quadratic loop took 9 s
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
        posted = time.perf_counter()
        thread.start()
        time.sleep(0.2)
        started = time.perf_counter()
        assert httpx.get(f"{url}/health", timeout=60).status_code == 200
        health_s = time.perf_counter() - started
        thread.join()
        # a frozen loop answers /health only when the big request is done; relative, as the machine may be loaded
        assert health_s < max(1.0, 0.5 * (time.perf_counter() - posted))
        assert result["response"].status_code == 200
        assert result["response"].json()["rewards"] == [pytest.approx(0.9)]


# ---- a backend answering NaN: that sample is unscored at the judge, every door applies its policy -------------

NAN_REASON = "invalid probability for 'PASS': nan"


def test_nan_probabilities_unscore_only_their_sample_at_every_http_door() -> None:
    with running({"pairwise": True}, token=TOKEN) as url:
        rlhf = httpx.post(
            f"{url}/get_reward", json={"query": ["q: good", "q: NAN"], "prompts": ["q:", "q:"]}, headers=AUTH
        )
        assert rlhf.status_code == 200, rlhf.text
        assert rlhf.json()["rewards"] == [pytest.approx(0.9), 0.5]
        assert rlhf.json()["extra_logs"]["unscored"] == [0.0, 1.0]

        def nova_sample(sid: str, text: str) -> dict[str, Any]:
            return {"id": sid, "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": text}]}

        nova = httpx.post(f"{url}/v1/nova", json=[nova_sample("a", "good"), nova_sample("b", "NAN")], headers=AUTH)
        assert nova.status_code == 200, nova.text
        assert [r["aggregate_reward_score"] for r in nova.json()] == [pytest.approx(0.9), 0.5]

        samples = [{"id": "a", "prompt": "q", "response": "good"}, {"id": "b", "prompt": "q", "response": "NAN"}]
        judged = httpx.post(f"{url}/v1/judge", json={"samples": samples}, headers=AUTH)
        assert judged.status_code == 200, judged.text
        good, nan = judged.json()["verdicts"]
        assert good["score"] == pytest.approx(0.9)
        assert nan["score"] is None and NAN_REASON in nan["unscored_reason"]
        assert all(c["passed"] is None for c in nan["criteria"])

        pairs = [{"id": "p", "prompt": "q", "response_a": "NAN", "response_b": "good"}]
        paired = httpx.post(f"{url}/v1/judge", json={"pairs": pairs}, headers=AUTH)
        assert paired.status_code == 200, paired.text
        (pair,) = paired.json()["pair_verdicts"]
        assert pair["winner"] is None and "nan" in pair["unscored_reason"]


def test_nan_probabilities_unscore_their_sample_in_the_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    from judgerl.serve import lambda_handler

    monkeypatch.setenv("JUDGERL_RUBRIC", str(RUBRIC_PATH))
    monkeypatch.setenv("JUDGERL_BACKEND", "support.serve:ServeBackend")
    monkeypatch.setenv("JUDGERL_UNSCORED", "zero")
    lambda_handler.reset()
    try:
        batch = [
            {"id": sid, "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": text}]}
            for sid, text in (("a", "good"), ("b", "NAN"))
        ]
        results = lambda_handler.handler(batch, lambda_handler.LocalContext())
    finally:
        lambda_handler.reset()
    assert [r["aggregate_reward_score"] for r in results] == [pytest.approx(0.9), 0.0]
    unscored = {m["name"]: m["value"] for m in results[1]["metrics_list"]}["unscored"]
    assert unscored == 1.0


def test_lone_surrogates_in_ids_are_cleaned_like_other_text() -> None:
    with running({"pairwise": True}, token=TOKEN) as url:
        body = '{"samples": [{"id": "a\\ud800", "prompt": "q", "response": "good"}]}'
        judged = httpx.post(f"{url}/v1/judge", content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert judged.status_code == 200, judged.text
        assert judged.json()["verdicts"][0]["id"] == clean_text("a\ud800")
        body = '{"pairs": [{"id": "\\udfff", "prompt": "q", "response_a": "good", "response_b": "x"}]}'
        paired = httpx.post(f"{url}/v1/judge", content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert paired.status_code == 200, paired.text
        assert paired.json()["pair_verdicts"][0]["id"] == clean_text("\udfff")


def test_a_bad_nova_sample_with_a_surrogate_id_is_unscored_not_a_500() -> None:
    """The lenient Nova parsing returns a bad sample unscored under its id: that id is cleaned like other text."""
    with running({}, token=TOKEN) as url:
        good = {"id": "good", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}]}
        body = "[" + json.dumps(good) + ', {"id": "\\udfff x", "metadata": 3, "messages": []}]'
        answer = httpx.post(f"{url}/v1/nova", content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text
        ids = [row["id"] for row in answer.json()]  # the Nova contract echoes each sample's id
        assert ids == ["good", clean_text("\udfff x")]


def test_a_locked_verdict_cache_neither_freezes_the_server_nor_unscores(tmp_path: Path) -> None:
    """Another process holds the cache's write lock while 6 requests of 3 samples run at once.

    The old cache answered ``if self.cache`` with a COUNT(*) under the lock its writes held for up to 2 s each, on
    the event loop: /health stalled for seconds and the requests took a write timeout per sample, one at a time."""
    cache_path = tmp_path / "cache.db"
    with write_locked_cache(cache_path), running({"cache_path": str(cache_path), "concurrency": 4}) as url:
        results, probed = judge_at_once(url, requests=6, samples=3)
    assert len(results) == 6 and all(r.status_code == 200 for r in results)
    scores = [v["score"] for r in results for v in r.json()["verdicts"]]
    assert scores == [pytest.approx(0.9)] * 18  # judged, not unscored, though nothing could be cached
    assert probed.health_s and set(probed.health_statuses) == {200}
    assert max(probed.health_s) < 1.0, probed.health_s  # the old loop stalled 2 s and more at a time
    assert probed.work_s < 10, probed.work_s  # the old writes waited 2 s each, one after another: 36 s


def test_a_failed_cache_write_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = VerdictCache(tmp_path / "cache.db", write_timeout_s=0.05)
    other = sqlite3.connect(tmp_path / "cache.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        assert cache.put("k", {"p_pass": 0.9}) is False
        assert cache.get("k") is None and cache.failed_writes == 1
        assert "not cached" in caplog.text
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert cache.put("k", {"p_pass": 0.9}) is True and cache.get("k") == {"p_pass": 0.9}
    cache.close()


# ---- slow and vanishing clients -----------------------------------------------------------------------------


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_slow_headers_and_silent_connections_are_closed() -> None:
    with running(token=TOKEN, header_timeout_s=0.5) as url:
        silent, slow = _connect(url), _connect(url)
        slow.sendall(b"POST /v1/judge HTTP/1.1\r\nHost: judge\r\n")  # and never the rest of the headers
        started = time.perf_counter()
        assert _read_until_closed(silent) == b""
        assert _read_until_closed(slow) == b""
        assert time.perf_counter() - started < 5
        kept = _connect(url)  # a kept-alive connection that then trickles its next request is closed too
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: judge\r\n\r\n")
        assert _read_response(kept).startswith(b"HTTP/1.1 200")
        kept.sendall(b"GET /health HTTP/1.1\r\n")
        assert _read_until_closed(kept) == b""
        assert httpx.get(f"{url}/health").status_code == 200


def test_a_socket_that_sends_nothing_is_closed_sooner_than_the_header_deadline() -> None:
    with running(token=TOKEN, header_timeout_s=30) as url:
        silent = _connect(url)
        silent.settimeout(8)  # the old server held it for the full 30 s header deadline
        assert _read_until_closed(silent) == b""


def test_silent_sockets_cannot_keep_real_clients_out() -> None:
    """64 silent sockets on a 64-connection server kept every legitimate probe at 503 (issue 28)."""
    with running(token=TOKEN, max_connections=16, header_timeout_s=30) as url:
        silent = [_connect(url) for _ in range(16)]
        time.sleep(0.3)
        try:
            for _ in range(3):
                assert httpx.get(f"{url}/health", timeout=10).status_code == 200
                silent += [_connect(url) for _ in range(16)]  # reopened, as the attacker did (every 9 s)
                time.sleep(0.4)
        finally:
            for sock in silent:
                sock.close()


def test_accept_errors_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    from judgerl.serve.transport import limit_accept_error_logs

    limit_accept_error_logs()
    asyncio_logger = logging.getLogger("asyncio")
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        for _ in range(1000):  # asyncio retries accept() every 0.1 s per socket at the file-descriptor limit
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                asyncio_logger.error("socket.accept() out of system resource\nsocket: x", exc_info=True)
        asyncio_logger.error("another asyncio error")
    accepts = [r for r in caplog.records if "accept()" in r.getMessage()]
    assert len(accepts) <= 1 and "another asyncio error" in caplog.text  # the old server logged all 1,000


def test_a_parked_body_gets_408_and_its_connection_closed() -> None:
    with running(token=TOKEN, body_timeout_s=0.5) as url:
        sock = _connect(url)
        head = f"POST /v1/judge HTTP/1.1\r\nHost: judge\r\nAuthorization: Bearer {TOKEN}\r\n"
        sock.sendall(f"{head}Content-Type: application/json\r\nContent-Length: 15000000\r\n\r\n{{".encode())
        started = time.perf_counter()
        answer = _read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"not received within 0.5 s" in answer
        assert time.perf_counter() - started < 5


def test_the_token_is_checked_before_the_body_is_read() -> None:
    with running(token=TOKEN) as url:
        sock = _connect(url)
        sock.sendall(b"POST /v1/nova HTTP/1.1\r\nHost: judge\r\nContent-Length: 15000000\r\n\r\n")  # no body sent
        answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"missing or wrong bearer token" in answer
        sock.close()
        wrong = httpx.post(f"{url}/get_reward", json={"query": ["x"]}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert wrong.json()["error"] == "missing or wrong bearer token"


def test_a_client_gone_mid_body_never_reaches_the_judge() -> None:
    with running(token=TOKEN) as url:
        body = b'{"query": ["q: good"], "prompts": ["q:"]}'
        sock = _connect(url)
        head = f"POST /get_reward HTTP/1.1\r\nHost: judge\r\nAuthorization: Bearer {TOKEN}\r\n"
        sock.sendall(f"{head}Content-Type: application/json\r\nContent-Length: {len(body) + 100}\r\n\r\n".encode())
        sock.sendall(body)  # valid JSON on its own, 100 bytes short of what was declared
        time.sleep(0.3)
        sock.close()
        time.sleep(0.3)
        metrics = httpx.get(f"{url}/metrics", headers=AUTH).text
        assert 'judgerl_requests_total{route="/get_reward",status="499"} 1' in metrics, metrics
        assert 'judgerl_samples_total{route="/get_reward"}' not in metrics


def test_oversized_headers_get_400_and_connections_past_the_cap_get_503() -> None:
    with running(token=TOKEN, max_connections=4, header_timeout_s=5) as url:
        big = _connect(url)
        big.sendall(b"GET /health HTTP/1.1\r\nHost: judge\r\nX-Big: " + b"a" * (70 * 1024))  # still incomplete
        assert _read_until_closed(big).startswith(b"HTTP/1.1 400")
        big.close()
        parked = [_connect(url) for _ in range(4)]
        for sock in parked:  # requests begun, not silent sockets (those are evicted past a quarter of the cap)
            sock.sendall(b"GET /health HTTP/1.1\r\n")
        time.sleep(0.2)
        assert httpx.get(f"{url}/health").status_code == 503
        for sock in parked:
            sock.close()
        time.sleep(0.2)
        assert httpx.get(f"{url}/health").status_code == 200


# ---- a bounded soak on loopback -------------------------------------------------------------------------------


def test_soak_2000_requests_at_32_in_flight_no_5xx_none_lost_or_mismatched(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """With the verdict cache on, as `judgerl serve` runs by default; a quarter of the texts repeat (cache hits)."""
    total, in_flight = 2000, 32
    caplog.set_level(logging.WARNING)  # one JSON line per sample would dominate the run

    async def soak(url: str) -> list[str]:
        problems: list[str] = []
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        async with httpx.AsyncClient(base_url=url, headers=AUTH, limits=limits, timeout=60) as client:
            semaphore = asyncio.Semaphore(in_flight)

            async def one(n: int) -> None:
                word = "good" if n % 2 else "bad"
                text = f"{word} {n % 50 if n % 4 == 1 else n}"  # every fourth text seen before: a cache hit
                async with semaphore:
                    if n % 3 == 0:
                        body = {"query": [f"q: {text}"], "prompts": ["q:"]}
                        response = await client.post("/get_reward", json=body)
                        got = response.json()["rewards"] if response.status_code == 200 else None
                        want: Any = [pytest.approx(0.9 if word == "good" else 0.2)]
                    else:
                        sample = {"id": f"s{n}", "prompt": "q", "response": text}
                        response = await client.post("/v1/judge", json={"samples": [sample]})
                        verdicts = response.json()["verdicts"] if response.status_code == 200 else []
                        got = [(v["id"], v["score"]) for v in verdicts]
                        want = [(f"s{n}", pytest.approx(0.9 if word == "good" else 0.2))]
                if response.status_code != 200 or got != want:
                    problems.append(f"request {n}: {response.status_code} {got} != {want}")

            await asyncio.gather(*(one(n) for n in range(total)))
        return problems

    cache = {"rationales": "none", "cache_path": str(tmp_path / "cache.sqlite")}
    with running(cache, token=TOKEN, max_batch=4) as url:
        problems = asyncio.run(soak(url))
        metrics = httpx.get(f"{url}/metrics", headers=AUTH).text
    assert problems == []
    hits = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("judgerl_cache_hits"))
    assert hits > 0  # the cache was on and answered
    served = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("judgerl_requests_total{") and 'status="200"' in line and "/metrics" not in line
    )
    assert served == total


# ---- work that grows with the input stays off the event loop (issue 28) ------------------------------------


def test_truncation_tokenises_a_bounded_prefix_and_suffix_only() -> None:
    from judgerl.judges.prompts import MAX_CHARS_PER_TOKEN, truncate_middle

    counted: list[int] = []

    def count(text: str) -> int:
        counted.append(len(text))
        return len(text) // 4

    text = "head " + "x" * 8_000_000 + " tail"
    cut, truncated = truncate_middle(text, 1000, count)
    assert truncated and cut.startswith("head") and cut.endswith("tail") and len(cut) < 4_200
    removed = int(cut.split("[... ", 1)[1].split(" ", 1)[0])
    assert len(text) - removed == len(cut.split("\n[...", 1)[0]) + len(cut.rsplit("...]\n", 1)[1])
    assert max(counted) <= 1000 * MAX_CHARS_PER_TOKEN  # the old code tokenised all 8 MB, more than once


def test_a_huge_response_with_a_slow_tokenizer_does_not_freeze_health() -> None:
    with running({"backend": "support.serve:SlowTokenizerBackend"}, max_body_bytes=8 * 1024 * 1024) as url:
        result: dict[str, Any] = {}
        huge = "good " + "word " * 400_000  # 2 MB: the stand-in tokenizer takes 4 s over all of it

        def post() -> None:
            samples = [{"id": "big", "prompt": "q", "response": huge}]
            result["response"] = httpx.post(f"{url}/v1/judge", json={"samples": samples}, timeout=120)

        probed = while_probing_health(url, post)
    assert result["response"].status_code == 200, result["response"].text
    (verdict,) = result["response"].json()["verdicts"]
    assert verdict["truncated"] and verdict["score"] == pytest.approx(0.9)
    assert probed.health_s and set(probed.health_statuses) == {200}
    assert max(probed.health_s) < 1.0, probed.health_s  # the old loop tokenised the 2 MB on the event loop


def test_a_valid_nova_rollout_with_a_surrogate_id_gets_its_verdict() -> None:
    """Validation refused the id, so the sample took the neutral reward (or the batch a 422) (issue 28)."""
    with running({}, token=TOKEN) as url:
        body = (
            '[{"id": "r\\udfff", "messages": [{"role": "user", "content": "q \\ud800"},'
            ' {"role": "assistant", "content": "good"}]}]'
        )
        answer = httpx.post(f"{url}/v1/nova", content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text
        (row,) = answer.json()
        assert row["id"] == clean_text("r\udfff") and row["aggregate_reward_score"] == pytest.approx(0.9)


def test_a_huge_unknown_key_is_not_echoed_in_the_422() -> None:
    key = "k" * 1_000_000
    body = '{"samples": [{"id": "a", "prompt": "q", "response": "good"}], "' + key + '": 1}'
    with running({}, token=TOKEN, max_body_bytes=4 * 1024 * 1024) as url:
        answer = httpx.post(f"{url}/v1/judge", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert answer.status_code == 422 and "Extra inputs" in answer.json()["error"]
    assert len(answer.content) < 2_000  # the old answer echoed the key twice: 2 MB


def test_a_small_request_is_not_queued_behind_a_large_batch() -> None:
    """A 1-sample request waited 2.9 s behind a 400-sample batch: first come, first served (issue 28)."""
    judge = {"concurrency": 2, "rationales": "none", "backend_options": {"delay_s": 0.02}}
    with running(judge, max_batch=1024) as url:
        result: dict[str, float] = {}

        def big() -> None:
            samples = [{"id": str(i), "prompt": "q", "response": f"good {i}"} for i in range(200)]
            began = time.perf_counter()
            assert httpx.post(f"{url}/v1/judge", json={"samples": samples}, timeout=300).status_code == 200
            result["big"] = time.perf_counter() - began

        thread = threading.Thread(target=big)
        thread.start()
        time.sleep(0.3)
        began = time.perf_counter()
        small = {"samples": [{"id": "small", "prompt": "q", "response": "good"}]}
        assert httpx.post(f"{url}/v1/judge", json=small, timeout=300).status_code == 200
        result["small"] = time.perf_counter() - began
        thread.join()
    # 200 samples at 2 at a time take about 2 s; first come, first served the small one waited nearly all of it
    assert result["small"] < 0.25 * result["big"], result


def test_health_reports_a_judge_that_stopped_answering() -> None:
    """/health said ok while the judge was unreachable (issue 28)."""
    with running({"rationales": "none"}, token=TOKEN) as url:
        assert httpx.get(f"{url}/health").json()["judge"]["reachable"] is None  # nothing judged yet
        failing = [{"id": str(i), "prompt": "q", "response": "ERROR"} for i in range(5)]
        assert httpx.post(f"{url}/v1/judge", json={"samples": failing}, headers=AUTH).status_code == 200
        health = httpx.get(f"{url}/health").json()
        assert health["status"] == "degraded" and health["judge"]["reachable"] is False
        assert "HTTP 500" in health["judge"]["last_error"]
        good = [{"id": "g", "prompt": "q", "response": "good"}]
        assert httpx.post(f"{url}/v1/judge", json={"samples": good}, headers=AUTH).status_code == 200
        health = httpx.get(f"{url}/health").json()
        assert health["status"] == "ok" and health["judge"]["reachable"] is True


# ---- found by the route fuzzing of benchmarks/serve_fuzz.py (issue 28) ---------------------------------------


@pytest.mark.parametrize("raw", [False, True], ids=["escaped", "raw-bytes"])
def test_lone_surrogates_in_a_grader_request_are_cleaned_not_a_500(raw: bool) -> None:
    """A '\\ud800' in a grader (escaped, or sent as invalid UTF-8, which JSON decoding lets through) made the
    answer unrenderable: 500 on both grader routes."""
    surrogate = b"\xed\xa0\x80" if raw else b"\\ud800"
    grader = b'{"type": "string_check", "name": "s' + surrogate + b'", "input": "{{ sample.output_text }}", '
    grader += b'"reference": "{{ item.reference_answer }}", "operation": "eq"}'
    headers = {**AUTH, "Content-Type": "application/json"}
    with running({}, token=TOKEN) as url:
        validated = httpx.post(f"{url}/v1/fine_tuning/alpha/graders/validate", content=b'{"grader": ' + grader + b"}",
                               headers=headers)  # fmt: skip
        assert validated.status_code == 200, validated.text
        assert validated.json()["grader"]["name"] == clean_text("s\ud800")
        body = b'{"grader": ' + grader + b', "model_sample": "Paris \xed\xa0\x80", "item": {"reference_answer": "P"}}'
        run = httpx.post(f"{url}/v1/fine_tuning/alpha/graders/run", content=body, headers=headers)
        assert run.status_code == 200, run.text
        assert run.json()["reward"] == 0.0


def test_a_nova_batch_nested_past_the_recursion_limit_is_refused_not_a_500() -> None:
    """JSON nested a few hundred deep parsed, then cleaning its strings recursed past Python's limit: 500."""
    statuses = []
    with running({}, token=TOKEN) as url:
        for depth in (400, 600, 900):
            for body in ("[" * depth + "]" * depth, '[{"id": ' + "[" * depth + "]" * depth + ', "messages": []}]'):
                headers = {**AUTH, "Content-Type": "application/json"}
                answer = httpx.post(f"{url}/v1/nova", content=body, headers=headers)
                assert answer.status_code < 500, (depth, answer.text[:300])
                statuses.append(answer.status_code)
    assert 200 in statuses or 422 in statuses  # past the JSON parser, not only refused by it


def test_clean_value_cleans_keys_and_strings_at_any_depth_without_recursion() -> None:
    from judgerl.samples import clean_value

    deep: Any = "\ud800"
    for _ in range(100_000):
        deep = [deep]
    cleaned = clean_value({"k\udfff": deep, "n": [1, None, 2.5, {"x": "ok"}]})
    assert list(cleaned) == [clean_text("k\udfff"), "n"] and cleaned["n"] == [1, None, 2.5, {"x": "ok"}]
    inner = cleaned[clean_text("k\udfff")]
    for _ in range(100_000):
        inner = inner[0]
    assert inner == clean_text("\ud800")
