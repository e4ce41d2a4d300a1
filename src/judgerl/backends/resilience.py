"""Staying up against a flaky judge server: retries with exponential backoff and full jitter, ``Retry-After``,
per-endpoint circuit breakers, load balancing with failover, and call statistics. Shared by the remote backends.

A backend describes one attempt as a coroutine that either returns or raises :class:`CallFailure` with a kind;
:func:`call_with_retries` decides whether and when to try again, and on which endpoint. Time comes from a
:class:`Clock`, so the policy is tested on a fake clock without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel

from judgerl.errors import JudgerlError

logger = logging.getLogger(__name__)

T = TypeVar("T")

FailureKind = Literal[
    "rate_limited",  # 429 (or a throttling exception): wait, honouring Retry-After
    "server_error",  # 5xx: the server is unwell
    "timeout",  # no complete reply within the per-request timeout
    "connection",  # refused, reset or dropped connection
    "malformed",  # 200 but the body is not a usable reply (truncated JSON, no choices)
    "bad_request",  # 400-class: this request will fail again; not retried
    "auth",  # 401/403: a set-up error
    "not_found",  # 404: wrong model name or URL; a set-up error
]
RETRYABLE_KINDS: frozenset[str] = frozenset({"rate_limited", "server_error", "timeout", "connection", "malformed"})
#: Failures that mean the set-up is wrong: every later request would fail the same way.
SETUP_KINDS: frozenset[str] = frozenset({"auth", "not_found"})
#: Failures that count against an endpoint's health. A 429 does not: the endpoint is alive, only busy.
UNHEALTHY_KINDS: frozenset[str] = frozenset({"server_error", "timeout", "connection", "malformed"})


class CallFailure(Exception):
    """One failed attempt (or the final failure of a call), with its kind and the server's wish to wait."""

    def __init__(self, kind: FailureKind, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries. ``deadline_s`` bounds all attempts and waits of one call together."""

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    deadline_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise JudgerlError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("base_delay_s", "max_delay_s", "deadline_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise JudgerlError(f"{name} must be a finite number >= 0, got {value}")

    def backoff(self, retry_index: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^n)], so clients that failed together spread out."""
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2.0**retry_index))


def parse_retry_after(headers: dict[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after-ms")
    if value is not None:
        try:
            seconds = float(value) / 1000.0
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` unhealthy failures in a row; open -> half-open after
    ``reset_after_s``, when one probe request may pass; the probe's outcome closes or reopens it."""

    def __init__(self, clock: Clock, failure_threshold: int = 5, reset_after_s: float = 10.0) -> None:
        if failure_threshold < 1:
            raise JudgerlError(f"breaker failure_threshold must be at least 1, got {failure_threshold}")
        self.clock = clock
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.probe_in_flight = False
        self.times_opened = 0

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        if self.opened_at is None:
            return "closed"
        if self.clock.monotonic() - self.opened_at >= self.reset_after_s:
            return "half_open"
        return "open"

    def can_dispatch(self) -> bool:
        state = self.state
        return state == "closed" or (state == "half_open" and not self.probe_in_flight)

    def available_at(self) -> float:
        """When a request may next pass (now if it may)."""
        if self.opened_at is None:
            return self.clock.monotonic()
        return self.opened_at + self.reset_after_s

    def on_dispatch(self) -> None:
        if self.state == "half_open":
            self.probe_in_flight = True

    def on_done(self) -> None:
        """An attempt ended without a verdict on health (a 429, a 400, a cancellation)."""
        self.probe_in_flight = False

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None
        self.probe_in_flight = False

    def record_failure(self) -> bool:
        """Count an unhealthy failure; True when this failure opened (or reopened) the circuit."""
        self.probe_in_flight = False
        self.consecutive_failures += 1
        if self.state == "half_open":  # the probe failed: open again for another period
            self.opened_at = self.clock.monotonic()
            self.times_opened += 1
            return True
        if self.opened_at is None and self.consecutive_failures >= self.failure_threshold:
            self.opened_at = self.clock.monotonic()
            self.times_opened += 1
            return True
        return False


@dataclass
class Endpoint:
    """One server (a base URL, or a Bedrock region) with its health and load."""

    name: str
    breaker: CircuitBreaker
    in_flight: int = 0
    cooldown_until: float = 0.0  # set from Retry-After: no request goes here before then

    def usable(self, now: float) -> bool:
        return now >= self.cooldown_until and self.breaker.can_dispatch()

    def available_at(self) -> float:
        return max(self.cooldown_until, self.breaker.available_at())


class EndpointPool:
    """Least-in-flight load balancing over healthy endpoints, round-robin among equals, with failover away
    from endpoints that just failed this call."""

    def __init__(self, names: Sequence[str], clock: Clock, failure_threshold: int = 5, reset_after_s: float = 10.0):
        if not names:
            raise JudgerlError("at least one endpoint is needed")
        self.clock = clock
        self.endpoints = [Endpoint(name, CircuitBreaker(clock, failure_threshold, reset_after_s)) for name in names]
        self._turn = 0

    def choose(self, avoid: set[str] | frozenset[str] = frozenset()) -> Endpoint | None:
        now = self.clock.monotonic()
        usable = [e for e in self.endpoints if e.usable(now)]
        preferred = [e for e in usable if e.name not in avoid] or usable
        if not preferred:
            return None
        self._turn += 1
        count = len(self.endpoints)
        order = {e.name: (i - self._turn) % count for i, e in enumerate(self.endpoints)}
        return min(preferred, key=lambda e: (e.in_flight, order[e.name]))

    def next_available_at(self) -> float:
        return min(e.available_at() for e in self.endpoints)


class LatencySummary(BaseModel):
    count: int = 0
    mean_s: float | None = None
    p50_s: float | None = None
    p90_s: float | None = None
    p99_s: float | None = None
    max_s: float | None = None


class CallStatsReport(BaseModel):
    """What a remote backend went through: calls, attempts, retries, failures by kind, circuit openings and
    the latency of calls (all attempts and waits included). ``retry_wait_s`` sums backoff sleeps and waits
    for an endpoint (Retry-After cooldowns, open circuits)."""

    calls: int
    succeeded: int
    failed: int
    attempts: int
    retries: int
    retry_wait_s: float
    attempt_failures: dict[str, int]
    final_failures: dict[str, int]
    circuit_opens: int
    per_endpoint_attempts: dict[str, int]
    latency: LatencySummary

    def one_line(self) -> str:
        """Requests, retries, failures and latency quantiles, for a CLI summary."""
        text = f"requests: {self.calls} ({self.retries} retried attempts, {self.failed} failed"
        if self.final_failures:
            text += ": " + ", ".join(f"{kind} {count}" for kind, count in sorted(self.final_failures.items()))
        text += ")"
        if self.latency.p50_s is not None and self.latency.p99_s is not None:
            text += f", latency p50 {self.latency.p50_s:.2f} s, p99 {self.latency.p99_s:.2f} s"
        return text


def _quantile(ordered: Sequence[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


@dataclass
class CallStats:
    """Thread-safe counters; latencies keep a bounded uniform sample for quantiles."""

    max_latency_samples: int = 100_000
    calls: int = 0
    succeeded: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0
    retry_wait_s: float = 0.0
    circuit_opens: int = 0
    attempt_failures: Counter[str] = field(default_factory=Counter)
    final_failures: Counter[str] = field(default_factory=Counter)
    per_endpoint_attempts: Counter[str] = field(default_factory=Counter)
    _latencies: list[float] = field(default_factory=list)
    _latency_total: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def record_attempt(self, endpoint: str) -> None:
        with self._lock:
            self.attempts += 1
            self.per_endpoint_attempts[endpoint] += 1

    def record_attempt_failure(self, kind: str, opened_circuit: bool) -> None:
        with self._lock:
            self.attempt_failures[kind] += 1
            self.circuit_opens += int(opened_circuit)

    def record_retry(self, wait_s: float) -> None:
        with self._lock:
            self.retries += 1
            self.retry_wait_s += wait_s

    def record_wait(self, wait_s: float) -> None:
        with self._lock:
            self.retry_wait_s += wait_s

    def record_call(self, latency_s: float, failure: str | None) -> None:
        with self._lock:
            self.calls += 1
            if failure is None:
                self.succeeded += 1
            else:
                self.failed += 1
                self.final_failures[failure] += 1
            self._latency_total += latency_s
            if len(self._latencies) < self.max_latency_samples:
                self._latencies.append(latency_s)
            else:  # reservoir sampling keeps the quantiles honest for very long runs
                slot = self._rng.randrange(self.calls)
                if slot < self.max_latency_samples:
                    self._latencies[slot] = latency_s

    def report(self) -> CallStatsReport:
        with self._lock:
            ordered = sorted(self._latencies)
            latency = LatencySummary(count=self.calls)
            if ordered:
                latency = LatencySummary(
                    count=self.calls,
                    mean_s=self._latency_total / self.calls,
                    p50_s=_quantile(ordered, 0.5),
                    p90_s=_quantile(ordered, 0.9),
                    p99_s=_quantile(ordered, 0.99),
                    max_s=ordered[-1],
                )
            return CallStatsReport(
                calls=self.calls,
                succeeded=self.succeeded,
                failed=self.failed,
                attempts=self.attempts,
                retries=self.retries,
                retry_wait_s=round(self.retry_wait_s, 6),
                attempt_failures=dict(self.attempt_failures),
                final_failures=dict(self.final_failures),
                circuit_opens=self.circuit_opens,
                per_endpoint_attempts=dict(self.per_endpoint_attempts),
                latency=latency,
            )


async def call_with_retries(
    attempt: Callable[[Endpoint], Awaitable[T]],
    pool: EndpointPool,
    policy: RetryPolicy,
    *,
    clock: Clock,
    rng: random.Random,
    stats: CallStats,
) -> T:
    """Run ``attempt`` on a chosen endpoint until it succeeds, fails for good, or the policy gives up.

    Raises the last :class:`CallFailure`, its message saying how many attempts were made. A non-retryable
    failure is raised at once. A ``Retry-After`` puts that endpoint in cooldown for every caller; the retry
    then goes to another endpoint if one is usable, or waits for the cooldown (plus jitter) otherwise."""
    started = clock.monotonic()
    deadline = started + policy.deadline_s
    avoid: set[str] = set()
    last: CallFailure | None = None
    attempts = 0
    try:
        while attempts < policy.max_attempts:
            endpoint = pool.choose(avoid)
            poll = max(policy.base_delay_s, 0.05)
            while endpoint is None:  # every endpoint is cooling down, open, or probing in half-open state
                # Sleep until one may open, plus jitter that grows while a half-open probe is out: waiters
                # must not busy-poll (and starve the probe) nor all return at the same instant.
                wake = max(pool.next_available_at(), clock.monotonic()) + rng.uniform(0.0, poll)
                if wake > deadline:
                    raise _final(
                        last, "no endpoint available (circuits open or cooling down)", attempts, clock, started
                    )
                stats.record_wait(wake - clock.monotonic())
                await clock.sleep(wake - clock.monotonic())
                poll = min(2 * poll, 1.0)
                endpoint = pool.choose(avoid)
            attempts += 1
            stats.record_attempt(endpoint.name)
            endpoint.in_flight += 1
            endpoint.breaker.on_dispatch()
            try:
                result = await attempt(endpoint)
            except CallFailure as failure:
                opened = False
                if failure.kind in UNHEALTHY_KINDS:
                    opened = endpoint.breaker.record_failure()
                    if opened:
                        logger.warning(
                            "endpoint %s: %d failures in a row, circuit open for %.1f s (last: %s)",
                            endpoint.name,
                            endpoint.breaker.consecutive_failures,
                            endpoint.breaker.reset_after_s,
                            failure.message,
                        )
                else:
                    endpoint.breaker.on_done()
                stats.record_attempt_failure(failure.kind, opened)
                if not failure.retryable:
                    raise
                last = failure
                avoid.add(endpoint.name)
                if failure.retry_after_s is not None:
                    endpoint.cooldown_until = max(endpoint.cooldown_until, clock.monotonic() + failure.retry_after_s)
                    if endpoint.cooldown_until > deadline:
                        raise _final(
                            last, f"server asked to wait {failure.retry_after_s:.1f} s", attempts, clock, started
                        ) from None
                if attempts >= policy.max_attempts:
                    break
                wait = policy.backoff(attempts - 1, rng)
                if clock.monotonic() + wait > deadline:
                    break
                stats.record_retry(wait)
                await clock.sleep(wait)
                continue
            except BaseException:
                endpoint.breaker.on_done()
                raise
            finally:
                endpoint.in_flight -= 1
            endpoint.breaker.record_success()
            stats.record_call(clock.monotonic() - started, None)
            return result
        raise _final(last, "", attempts, clock, started)
    except CallFailure as failure:
        stats.record_call(clock.monotonic() - started, failure.kind)
        raise


def _final(last: CallFailure | None, note: str, attempts: int, clock: Clock, started: float) -> CallFailure:
    elapsed = clock.monotonic() - started
    kind: FailureKind = last.kind if last is not None else "connection"
    base = last.message if last is not None else "not attempted"
    extra = f"; {note}" if note else ""
    return CallFailure(kind, f"{base} (gave up after {attempts} attempt(s) in {elapsed:.1f} s{extra})")
