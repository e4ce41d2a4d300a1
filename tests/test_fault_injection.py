"""Fault drill: thousands of judge calls through the real HTTP client against a loopback server (its own
process) that injects 20% faults: 429 with Retry-After, 500, 503, hangs past the timeout, dropped
connections, truncated JSON, empty choices, garbage text and off-menu labels.

Every sample must come back, in order, scored or unscored with a reason; every scored verdict must equal the
server's clean answer (so nothing was read from a garbage reply); retries and latencies are accounted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import judgerl
from judgerl import Rubric, Sample
from judgerl.backends import build_backend
from judgerl.backends.openai_backend import OpenAIBackend
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.prompts import PAIR_LABELS, RUBRIC_LABELS, criterion_prompt, json_verdicts_prompt, pair_prompt
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.samples import PairSample
from judgerl.testing.stub_server import ALL_FAULTS, default_p_first, generated_verdict

FAULT_RATE = 0.2
RUBRIC = Rubric.from_dict({"criteria": [{"name": "correct", "text": "The final answer is correct."}]})
TWO_CRITERIA = Rubric.from_dict(
    {
        "criteria": [
            {"name": "correct", "text": "The final answer is correct."},
            {"name": "brief", "text": "It is brief."},
        ]
    }
)
CLIENT = {
    "timeout_s": 4.0,  # hangs last until the server stops; legitimate replies on a loaded machine must fit
    "retry_base_s": 0.05,
    "retry_max_s": 1.0,
    "max_attempts": 8,
    "breaker_failures": 5,
    "breaker_reset_s": 0.5,
    "max_concurrency": 48,
    "logprobs": True,
    "rng_seed": 1,
}


@pytest.fixture(scope="module")
def faulty_server() -> Iterator[str]:
    src = str(Path(judgerl.__file__).parents[1])
    command = [sys.executable, "-m", "judgerl.testing.stub_server", "--fault-rate", str(FAULT_RATE)]
    command += ["--retry-after-s", "0.2", "--hang-s", "600", "--seed", "11"]
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY "), f"stub server did not start: {line!r}"
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(10)


def server_stats(base_url: str) -> dict[str, Any]:
    root = base_url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/stub/stats", timeout=10) as response:
        stats: dict[str, Any] = json.loads(response.read())
    return stats


def backend_for(base_url: str) -> OpenAIBackend:
    backend = build_backend("openai", model="stub-judge", base_urls=[base_url], **CLIENT)
    assert isinstance(backend, OpenAIBackend)
    return backend


def samples(count: int, tag: str) -> list[Sample]:
    return [Sample(id=f"{tag}{i}", prompt=f"What is {i} * 3?", response=f"{tag}: it is {3 * i}.") for i in range(count)]


def test_two_thousand_samples_at_twenty_percent_faults(faulty_server: str) -> None:
    before = server_stats(faulty_server)
    backend = backend_for(faulty_server)
    judge = RubricJudge(RUBRIC, backend, rationales="none", concurrency=48)
    batch = samples(2000, "s")
    verdicts = judge.judge(batch)  # no crash, no exception

    assert [v.id for v in verdicts] == [s.id for s in batch]
    criterion = RUBRIC.criteria[0]
    garbage_reason = "none of PASS/FAIL among the judge's top"
    unreadable = 0
    for sample, verdict in zip(batch, verdicts, strict=True):
        if verdict.scored:
            prompt = criterion_prompt(judge.material(sample)[0], criterion, RUBRIC.instructions)
            expected = default_p_first(backend._messages(prompt, RUBRIC_LABELS))
            assert verdict.criteria[0].p_pass == pytest.approx(expected, abs=1e-9), sample.id
            assert verdict.prompt_tokens > 0 and verdict.completion_tokens == 1
        else:
            assert verdict.unscored_reason and verdict.criteria[0].unscored_reason, sample.id
            assert garbage_reason in verdict.unscored_reason or "gave up after" in verdict.unscored_reason
            unreadable += garbage_reason in verdict.unscored_reason

    after = server_stats(faulty_server)
    injected = {k: after["faults"].get(k, 0) - before["faults"].get(k, 0) for k in ALL_FAULTS}
    requests = after["requests"]["/v1/chat/completions"] - before["requests"].get("/v1/chat/completions", 0)
    report = backend.call_stats()
    failures = report.attempt_failures

    assert all(injected[k] > 0 for k in ALL_FAULTS), injected  # every kind of fault was exercised
    assert 0.15 < sum(injected.values()) / requests < 0.25
    # each answered fault was seen by the client as what it is; hangs and drops may be joined by load
    assert failures.get("rate_limited", 0) <= injected["rate_limit"]
    assert failures.get("server_error", 0) <= injected["server_error"] + injected["unavailable"]
    assert failures.get("malformed", 0) <= injected["truncated"] + injected["empty_choices"]
    # a hang is always a client timeout and a drop a connection failure, unless a loaded machine made the
    # client give up on a request before the server dropped it; either way, at least as many as injected
    assert failures.get("timeout", 0) + failures.get("connection", 0) >= injected["timeout"] + injected["drop"]
    assert failures.get("rate_limited", 0) >= injected["rate_limit"] * 0.9
    # garbage and off-menu replies are answers, not transport faults: unscored, never retried into a score
    assert 0 < unreadable <= injected["garbage"] + injected["off_menu"]
    assert sum(v.scored for v in verdicts) >= 2000 - injected["garbage"] - injected["off_menu"] - report.failed

    assert report.calls == 2000 and report.succeeded + report.failed == 2000
    assert report.attempts >= requests and report.retries > 0.1 * report.calls
    assert report.retry_wait_s > 0
    latency = report.latency
    assert latency.p50_s is not None and latency.p90_s is not None and latency.p99_s is not None
    assert 0 < latency.p50_s <= latency.p90_s <= latency.p99_s <= (latency.max_s or 0)


def test_generate_mode_and_pairs_under_faults(faulty_server: str) -> None:
    backend = backend_for(faulty_server)
    backend.supports_logprobs = False  # verdicts parsed from generated text, as on a server without log-probabilities
    judge = RubricJudge(TWO_CRITERIA, backend, mode="generate", concurrency=32)
    batch = samples(300, "g")
    verdicts = judge.judge(batch)
    assert [v.id for v in verdicts] == [s.id for s in batch]
    for sample, verdict in zip(batch, verdicts, strict=True):
        if verdict.scored:
            prompt = json_verdicts_prompt(judge.material(sample)[0], TWO_CRITERIA.criteria, "")
            expected = [generated_verdict(prompt.user, c.name) for c in TWO_CRITERIA.criteria]
            assert [c.passed for c in verdict.criteria] == expected, sample.id
        else:
            assert verdict.unscored_reason, sample.id
    assert sum(v.scored for v in verdicts) > 250  # the repair retry rescues most garbage replies

    backend.supports_logprobs = True
    pairs = [PairSample(id=f"p{i}", prompt=f"Task {i}", response_a=f"A{i}", response_b=f"B{i}") for i in range(200)]
    pair_verdicts = PairwiseJudge(backend, concurrency=32).judge(pairs)
    assert [v.id for v in pair_verdicts] == [p.id for p in pairs]
    for pair, verdict in zip(pairs, pair_verdicts, strict=True):
        if not verdict.scored:
            assert verdict.unscored_reason and verdict.winner is None
            continue
        first = pair_prompt(pair.prompt, pair.response_a, pair.response_b, None, "")  # type: ignore[arg-type]
        second = pair_prompt(pair.prompt, pair.response_b, pair.response_a, None, "")  # type: ignore[arg-type]
        p_first = default_p_first(backend._messages(first, PAIR_LABELS))
        p_second = 1 - default_p_first(backend._messages(second, PAIR_LABELS))
        assert verdict.p_a == pytest.approx((p_first + p_second) / 2, abs=1e-9), pair.id
    assert sum(v.scored for v in pair_verdicts) > 100
