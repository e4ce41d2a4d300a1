from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from judgerl.backends.resilience import (
    CallFailure,
    CallStats,
    CircuitBreaker,
    Endpoint,
    EndpointPool,
    RetryPolicy,
    call_with_retries,
    parse_retry_after,
)
from judgerl.errors import JudgerlError
from support.fakes import FakeClock

Outcome = CallFailure | str


def scripted(outcomes: list[Outcome], clock: FakeClock, log: list[tuple[str, float]]) -> Callable[[Endpoint], object]:
    """An attempt that plays ``outcomes`` in order, logging (endpoint, time) of every attempt."""
    queue = list(outcomes)

    async def attempt(endpoint: Endpoint) -> str:
        log.append((endpoint.name, clock.now))
        outcome = queue.pop(0)
        if isinstance(outcome, CallFailure):
            raise outcome
        return outcome

    return attempt


def run(
    outcomes: list[Outcome],
    *,
    names: tuple[str, ...] = ("a",),
    policy: RetryPolicy | None = None,
    clock: FakeClock | None = None,
    pool: EndpointPool | None = None,
    stats: CallStats | None = None,
) -> tuple[str | CallFailure, list[tuple[str, float]], FakeClock, CallStats]:
    clock = clock or FakeClock()
    pool = pool or EndpointPool(names, clock, failure_threshold=3, reset_after_s=30.0)
    stats = stats or CallStats()
    log: list[tuple[str, float]] = []
    attempt = scripted(outcomes, clock, log)

    async def go() -> str:
        return await call_with_retries(
            attempt,  # type: ignore[arg-type]
            pool,
            policy or RetryPolicy(max_attempts=4, base_delay_s=1.0, max_delay_s=8.0, deadline_s=120.0),
            clock=clock,
            rng=random.Random(7),
            stats=stats,
        )

    try:
        result: str | CallFailure = asyncio.run(go())
    except CallFailure as failure:
        result = failure
    return result, log, clock, stats


def test_backoff_is_full_jitter_within_the_exponential_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0)
    rng = random.Random(1)
    for index, cap in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        draws = [policy.backoff(index, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in draws)
        assert max(draws) > 0.8 * cap and min(draws) < 0.2 * cap  # spread over the whole range
    with pytest.raises(JudgerlError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    now = datetime(2026, 1, 1, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now.timestamp()) == pytest.approx(30.0)
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "-3"}) is None
    assert parse_retry_after({}) is None


def test_retries_transient_failures_then_succeeds() -> None:
    outcomes: list[Outcome] = [CallFailure("server_error", "HTTP 500"), CallFailure("connection", "reset"), "ok"]
    result, log, clock, stats = run(outcomes)
    assert result == "ok" and len(log) == 3
    # the two sleeps are the jittered backoffs for retry 0 and 1
    rng = random.Random(7)
    policy = RetryPolicy(max_attempts=4, base_delay_s=1.0, max_delay_s=8.0)
    assert clock.sleeps == [policy.backoff(0, rng), policy.backoff(1, rng)]
    report = stats.report()
    assert (report.calls, report.succeeded, report.attempts, report.retries) == (1, 1, 3, 2)
    assert report.attempt_failures == {"server_error": 1, "connection": 1}
    assert report.retry_wait_s == pytest.approx(sum(clock.sleeps))
    assert report.latency.count == 1 and report.latency.max_s == pytest.approx(sum(clock.sleeps))


def test_non_retryable_failure_is_raised_at_once() -> None:
    result, log, clock, stats = run([CallFailure("bad_request", "HTTP 400: context too long"), "never"])
    assert isinstance(result, CallFailure) and result.kind == "bad_request" and len(log) == 1
    assert clock.sleeps == [] and stats.report().final_failures == {"bad_request": 1}


def test_gives_up_after_max_attempts_with_the_last_reason() -> None:
    result, log, _, stats = run([CallFailure("timeout", "no reply within 5 s")] * 4)
    assert isinstance(result, CallFailure) and result.kind == "timeout"
    assert "no reply within 5 s" in result.message and "gave up after 4 attempt(s)" in result.message
    assert len(log) == 4 and stats.report().failed == 1


def test_retry_after_is_honoured_on_the_only_endpoint() -> None:
    outcomes: list[Outcome] = [CallFailure("rate_limited", "HTTP 429", retry_after_s=7.0), "ok"]
    result, log, _, _ = run(outcomes, policy=RetryPolicy(max_attempts=3, base_delay_s=0.1, deadline_s=60))
    assert result == "ok"
    waited = log[1][1] - log[0][1]
    assert 7.0 <= waited <= 7.0 + 0.1 + 0.1  # the cooldown plus at most one backoff and one jitter


def test_retry_after_fails_over_to_another_endpoint_at_once() -> None:
    outcomes: list[Outcome] = [CallFailure("rate_limited", "HTTP 429", retry_after_s=30.0), "ok"]
    result, log, _, _ = run(outcomes, names=("a", "b"), policy=RetryPolicy(base_delay_s=0.1))
    assert result == "ok"
    assert log[0][0] != log[1][0] and log[1][1] - log[0][1] <= 0.1


def test_retry_after_beyond_the_deadline_gives_up_without_waiting() -> None:
    outcomes: list[Outcome] = [CallFailure("rate_limited", "HTTP 429", retry_after_s=3600.0), "ok"]
    result, log, clock, _ = run(outcomes, policy=RetryPolicy(deadline_s=60))
    assert isinstance(result, CallFailure) and "server asked to wait 3600.0 s" in result.message
    assert len(log) == 1 and clock.sleeps == []


def test_failover_moves_to_the_other_endpoint_after_a_failure() -> None:
    outcomes: list[Outcome] = [CallFailure("connection", "refused"), "ok"]
    result, log, _, stats = run(outcomes, names=("a", "b"))
    assert result == "ok" and {log[0][0], log[1][0]} == {"a", "b"}
    assert sum(stats.report().per_endpoint_attempts.values()) == 2


def test_circuit_breaker_opens_half_opens_and_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, failure_threshold=3, reset_after_s=10.0)
    assert [breaker.record_failure() for _ in range(3)] == [False, False, True]
    assert breaker.state == "open" and not breaker.can_dispatch()
    clock.now += 10.0
    assert breaker.state == "half_open" and breaker.can_dispatch()
    breaker.on_dispatch()
    assert not breaker.can_dispatch()  # one probe at a time
    assert breaker.record_failure() is True and breaker.state == "open"  # the probe failed: open again
    clock.now += 10.0
    breaker.on_dispatch()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.times_opened == 2 and breaker.consecutive_failures == 0
    # successes in between reset the count: failures must be consecutive
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state == "closed"


def test_rate_limits_do_not_open_the_circuit() -> None:
    clock = FakeClock()
    pool = EndpointPool(["a"], clock, failure_threshold=2, reset_after_s=30.0)
    outcomes: list[Outcome] = [CallFailure("rate_limited", "429")] * 3 + ["ok"]
    result, _, _, stats = run(outcomes, pool=pool, clock=clock)
    assert result == "ok" and pool.endpoints[0].breaker.state == "closed" and stats.report().circuit_opens == 0


def test_open_circuit_waits_for_the_half_open_probe() -> None:
    clock = FakeClock()
    pool = EndpointPool(["a"], clock, failure_threshold=2, reset_after_s=30.0)
    outcomes: list[Outcome] = [CallFailure("server_error", "500"), CallFailure("server_error", "503"), "ok"]
    result, log, _, stats = run(outcomes, pool=pool, clock=clock, policy=RetryPolicy(base_delay_s=0.5))
    assert result == "ok"
    assert log[2][1] - log[1][1] >= 30.0  # the third attempt waited for the circuit to half-open
    assert stats.report().circuit_opens == 1 and pool.endpoints[0].breaker.state == "closed"


def test_open_circuit_sends_traffic_to_healthy_endpoints() -> None:
    clock = FakeClock()
    pool = EndpointPool(["sick", "well"], clock, failure_threshold=1, reset_after_s=60.0)
    pool.endpoints[0].breaker.record_failure()
    assert [pool.choose().name for _ in range(5)] == ["well"] * 5  # type: ignore[union-attr]
    pool.endpoints[1].breaker.record_failure()
    assert pool.choose() is None and pool.next_available_at() == pytest.approx(clock.now + 60.0)


def test_least_in_flight_then_round_robin() -> None:
    clock = FakeClock()
    pool = EndpointPool(["a", "b", "c"], clock)
    picks = [pool.choose().name for _ in range(6)]  # type: ignore[union-attr]
    assert sorted(picks) == ["a", "a", "b", "b", "c", "c"]
    pool.endpoints[0].in_flight = 3
    pool.endpoints[1].in_flight = 1
    assert pool.choose().name == "c"  # type: ignore[union-attr]
    assert pool.choose(avoid={"c"}).name == "b"  # type: ignore[union-attr]


def test_deadline_bounds_the_whole_call() -> None:
    policy = RetryPolicy(max_attempts=50, base_delay_s=4.0, max_delay_s=4.0, deadline_s=10.0)
    result, log, clock, _ = run([CallFailure("server_error", "500")] * 50, policy=policy)
    assert isinstance(result, CallFailure) and len(log) < 50
    assert clock.now - 1000.0 <= 10.0


def test_stats_quantiles() -> None:
    stats = CallStats(max_latency_samples=1000)
    for value in range(1, 101):
        stats.record_call(value / 100, None)
    latency = stats.report().latency
    assert (latency.p50_s, latency.p90_s, latency.p99_s, latency.max_s) == (0.5, 0.9, 0.99, 1.0)
    small = CallStats(max_latency_samples=10)
    for value in range(1000):
        small.record_call(float(value), None)
    assert small.report().latency.count == 1000 and len(small._latencies) == 10
