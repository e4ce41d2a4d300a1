"""judgerl as verl's custom reward function.

verl loads a reward function from a file path (``reward.custom_reward_function.path``; before verl 0.9
``custom_reward_function.path``) and calls it with ``(data_source, solution_str, ground_truth, extra_info)`` per
sample (reward manager ``naive``; from 0.9 every sample of a batch at once, in threads) or, before 0.9, with lists
``(data_sources, solution_strs, ground_truths, extra_infos)`` (reward manager ``batch``). The
``custom_reward_function.reward_kwargs`` arrive as keyword options:

- ``server_url``: judge through a running ``judgerl serve`` (its ``/v1/judge``); otherwise judge in-process
  with a judge built once per worker from the options below and the ``JUDGERL_*`` environment variables;
- ``token`` (or the ``JUDGERL_SERVER_TOKEN`` environment variable), ``timeout_s``, ``batch_size``;
- ``unscored`` (neutral|zero|error) and ``neutral_value``: the failure policy, the same as every other door;
- any :class:`~judgerl.serve.config.ServeConfig` field for the in-process judge (``rubric``, or ``grader`` for
  an OpenAI grader file, ``backend``, ``model``, ``mode``, ``rationales``, ``cache_path``, ``concurrency``, ...).

verl does not pass the prompt to reward functions, so the judge reads it from ``extra_info`` (the first of
``question``, ``prompt``, ``problem``, ``query``, ``instruction``); put it there when preparing the dataset.
Each call returns a dict per sample: ``score`` (the reward), ``unscored`` (1/0), ``judge_latency_s`` and one
key per criterion, the same keys for every sample as verl requires.

This file uses absolute imports only, because verl imports it by path under a module name of its own
(``custom_module``; ``custom_module_<hash>`` from verl 0.9).
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from judgerl.aio import run_sync
from judgerl.backends.resilience import (
    CallFailure,
    CallStats,
    Endpoint,
    EndpointPool,
    RetryPolicy,
    SystemClock,
    call_with_retries,
    parse_retry_after,
)
from judgerl.errors import JudgerlError, describe_validation_error
from judgerl.judges.outcome import RewardOutcome, UnscoredPolicy
from judgerl.samples import Message, Sample
from judgerl.serve.config import BuiltJudge, ServeConfig
from judgerl.serve.contract import RewardScorer, finish, reference_text
from judgerl.verdicts import SampleVerdict

logger = logging.getLogger("judgerl.serve.verl")

PROMPT_KEYS = ("question", "prompt", "problem", "query", "instruction")
#: tries of one chunk against a judgerl server before the batch fails
REMOTE_ATTEMPTS = 3
_CLIENT_OPTIONS = {"server_url", "token", "timeout_s", "batch_size", "unscored", "neutral_value"}
_local_lock = threading.Lock()
_local: dict[str, tuple[BuiltJudge, RewardScorer]] = {}


def compute_score(
    data_source: Any, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None, **options: Any
) -> dict[str, float]:
    """verl's per-sample reward function (reward manager ``naive``)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **options)[0]


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    **options: Any,
) -> list[dict[str, float]]:
    """verl's batch reward function (reward manager ``batch``): one dict per sample, in order."""
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    samples = [
        sample_from_verl(index, source, solution, truth, info)
        for index, (source, solution, truth, info) in enumerate(
            zip(data_sources, solution_strs, ground_truths, infos, strict=True)
        )
    ]
    policy = _policy(options)
    server_url = options.get("server_url") or os.environ.get("JUDGERL_SERVER_URL")
    started = time.perf_counter()
    if server_url:
        verdicts, names = _judge_remote(str(server_url), samples, options)
    else:
        scorer = _local_scorer({k: v for k, v in options.items() if k not in _CLIENT_OPTIONS})
        timeout = options.get("timeout_s")
        verdicts = scorer.verdicts(samples, float(timeout) if timeout else None)
        names = scorer.criterion_names
    outcomes = finish(verdicts, policy, "verl", time.perf_counter() - started)
    return [verl_result(outcome, names, policy) for outcome in outcomes]


def sample_from_verl(
    index: int, data_source: Any, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None
) -> Sample:
    info = dict(extra_info or {})
    prompt: str | list[Message] = ""
    for key in PROMPT_KEYS:
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            prompt = value
            break
        if isinstance(value, (list, tuple)) and value and all(isinstance(m, Mapping) for m in value):
            prompt = [Message(role=m.get("role", "user"), content=str(m.get("content", ""))) for m in value]
            break
    sample_id = f"{data_source}:{info['index']}" if "index" in info else str(index)
    return Sample(
        id=sample_id,
        prompt=prompt,
        response=solution_str,
        reference=reference_text(ground_truth),
        metadata={"data_source": str(data_source)},
    )


def verl_result(outcome: RewardOutcome, criterion_names: Sequence[str], policy: UnscoredPolicy) -> dict[str, float]:
    result = {
        "score": outcome.reward,
        "unscored": 1.0 if outcome.unscored else 0.0,
        "judge_latency_s": outcome.latency_s,
    }
    for name in criterion_names:
        result[name] = outcome.criterion_value(name, policy)
    return result


def _policy(options: Mapping[str, Any]) -> UnscoredPolicy:
    try:
        return UnscoredPolicy.model_validate({k: options[k] for k in ("unscored", "neutral_value") if k in options})
    except ValidationError as exc:
        raise JudgerlError(f"verl reward_kwargs: {describe_validation_error(exc)}") from None


def _local_scorer(options: Mapping[str, Any]) -> RewardScorer:
    config = ServeConfig.from_env(overrides=options)
    key = config.model_dump_json()
    with _local_lock:
        if key not in _local:
            built = config.build()
            built.announce_trust()
            _local[key] = (built, RewardScorer(built.judge, concurrency=config.concurrency))
        return _local[key][1]


def _judge_remote(
    server_url: str, samples: Sequence[Sample], options: Mapping[str, Any]
) -> tuple[list[SampleVerdict], list[str]]:
    """Rubric verdicts from a judgerl server, in chunks of ``batch_size``; the policy is applied here."""
    token = options.get("token") or os.environ.get("JUDGERL_SERVER_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = float(options.get("timeout_s", 600))
    batch_size = max(1, int(options.get("batch_size", 256)))
    url = server_url.rstrip("/") + "/v1/judge"
    chunks = [samples[start : start + batch_size] for start in range(0, len(samples), batch_size)]
    verdicts, names = run_sync(_post_chunks(url, chunks, headers, timeout))
    if len(verdicts) != len(samples) or any(v.id != s.id for v, s in zip(verdicts, samples, strict=False)):
        raise RuntimeError(f"{url}: the server's verdicts do not match the samples sent (ids or count differ)")
    return verdicts, names


async def _post_chunks(
    url: str, chunks: Sequence[Sequence[Sample]], headers: dict[str, str], timeout: float
) -> tuple[list[SampleVerdict], list[str]]:
    """Each chunk through ``resilience.call_with_retries``: a dropped connection or a 502/503/504 is tried again
    (at most ``REMOTE_ATTEMPTS`` times, with jittered backoff and the server's Retry-After); any other error
    status fails the batch with the server's message."""
    import httpx

    clock = SystemClock()
    # the budget of the old fixed loop: every attempt may use the whole timeout, plus the waits between them
    policy = RetryPolicy(
        max_attempts=REMOTE_ATTEMPTS, base_delay_s=1.0, max_delay_s=4.0, deadline_s=REMOTE_ATTEMPTS * (timeout + 4.0)
    )
    pool = EndpointPool([url], clock)
    rng = random.Random()
    verdicts: list[SampleVerdict] = []
    names: list[str] = []
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as client:
        for chunk in chunks:
            payload = {"samples": [sample.model_dump(mode="json") for sample in chunk]}

            async def attempt(endpoint: Endpoint, payload: dict[str, Any] = payload) -> dict[str, Any]:
                return await _post_once(client, endpoint.name, payload)

            stats = CallStats()
            try:
                body = await call_with_retries(attempt, pool, policy, clock=clock, rng=rng, stats=stats)
            except CallFailure as failure:
                if failure.retryable:
                    raise RuntimeError(
                        f"{url}: no answer after {stats.attempts} attempts ({failure.message}); "
                        "is `judgerl serve` running?"
                    ) from None
                raise JudgerlError(f"{url}: {failure.message}") from None
            names = list(body["rubric"]["criteria"])
            verdicts.extend(SampleVerdict.model_validate(v) for v in body["verdicts"])
    return verdicts, names


async def _post_once(client: Any, url: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One POST; a failure becomes a :class:`CallFailure` whose kind says whether it is worth another try."""
    import httpx

    try:
        # ASCII JSON: a lone surrogate in a question travels as "\ud800" and is cleaned by the server like other
        # text, where httpx's UTF-8 encoding raised UnicodeEncodeError and failed the whole batch
        content = json.dumps(payload).encode("ascii")
        response = await client.post(url, content=content, headers={"Content-Type": "application/json"})
    except httpx.TimeoutException as exc:
        raise CallFailure("timeout", f"{type(exc).__name__}: {exc}") from None
    except httpx.TransportError as exc:
        raise CallFailure("connection", f"{type(exc).__name__}: {exc}") from None
    if response.status_code in (502, 503, 504):
        retry_after = parse_retry_after(dict(response.headers))
        raise CallFailure("server_error", f"HTTP {response.status_code}", retry_after)
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except (json.JSONDecodeError, AttributeError):
            message = response.text
        raise CallFailure("bad_request", f"HTTP {response.status_code}: {message}")
    body: dict[str, Any] = response.json()
    return body
