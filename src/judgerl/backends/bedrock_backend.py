"""``--backend bedrock``: a judge on Amazon Bedrock through the bedrock-runtime Converse API (boto3).

Converse gives no token log-probabilities, so Bedrock judges in generate mode (the rubric judge switches by
itself; pairwise judging needs log-probabilities and says so). Throttling and transient errors
(ThrottlingException, ServiceUnavailableException, ModelTimeoutException, InternalServerException,
ModelNotReadyException, dropped connections, read timeouts) are retried with backoff and jitter
(resilience.py); validation errors are not. Access, credential and model-id errors raise BackendUnavailable
with one line. botocore's own retries are turned off so there is one retry policy, not two stacked.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from judgerl.aio import run_sync
from judgerl.backends.base import Generation, JudgeBackend, JudgePrompt, LabelResult
from judgerl.backends.resilience import (
    SETUP_KINDS,
    CallFailure,
    CallStats,
    CallStatsReport,
    Clock,
    Endpoint,
    EndpointPool,
    FailureKind,
    RetryPolicy,
    SystemClock,
    call_with_retries,
)
from judgerl.errors import BackendUnavailable, JudgerlError

logger = logging.getLogger(__name__)

_ERROR_KINDS: dict[str, FailureKind] = {
    "ThrottlingException": "rate_limited",
    "TooManyRequestsException": "rate_limited",
    "ServiceUnavailableException": "server_error",
    "InternalServerException": "server_error",
    "ModelNotReadyException": "server_error",
    "ModelTimeoutException": "timeout",
    "AccessDeniedException": "auth",
    "UnrecognizedClientException": "auth",
    "ExpiredTokenException": "auth",
    "InvalidSignatureException": "auth",
    "ResourceNotFoundException": "not_found",
}
# A ValidationException is usually about this one request (too long, bad parameter), but these mean the model
# id itself is wrong or needs an inference profile: a set-up error.
_MODEL_ID_PROBLEMS = ("model identifier is invalid", "inference profile", "model id", "isn't supported")


def classify_client_error(exc: ClientError) -> CallFailure:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = " ".join(str(error.get("Message", "")).split()) or code
    kind = _ERROR_KINDS.get(code)
    if kind is None and code == "ValidationException":
        kind = "not_found" if any(p in message.lower() for p in _MODEL_ID_PROBLEMS) else "bad_request"
    return CallFailure(kind or "bad_request", f"{code}: {message}")


class BedrockBackend(JudgeBackend):
    """A Bedrock model as the judge, called with Converse from a bounded thread pool."""

    name = "bedrock"
    supports_logprobs = False

    def __init__(
        self,
        model: str,
        region: str | None = None,
        profile: str | None = None,
        *,
        max_concurrency: int = 8,
        timeout_s: float = 60.0,
        max_attempts: int = 6,
        retry_base_s: float = 0.5,
        retry_max_s: float = 20.0,
        deadline_s: float = 300.0,
        breaker_failures: int = 5,
        breaker_reset_s: float = 10.0,
        temperature: float | None = 0.0,
        max_input_tokens: int = 8192,
        client: Any = None,
        clock: Clock | None = None,
        rng_seed: int | None = None,
    ) -> None:
        super().__init__(model_id=model, max_input_tokens=max_input_tokens)
        if not model or not model.strip():
            raise JudgerlError("--model: the bedrock backend needs a model id, e.g. amazon.nova-micro-v1:0")
        if max_concurrency < 1:
            raise JudgerlError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.client = client if client is not None else self._make_client(region, profile, max_concurrency, timeout_s)
        self.region = str(self.client.meta.region_name)
        self.timeout_s = timeout_s
        self.temperature = temperature
        self.policy = RetryPolicy(max_attempts, retry_base_s, retry_max_s, deadline_s)
        self.clock: Clock = clock or SystemClock()
        self.pool = EndpointPool([f"bedrock:{self.region}"], self.clock, breaker_failures, breaker_reset_s)
        self._rng = random.Random(rng_seed)
        self._stats = CallStats()
        self._executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="judgerl-bedrock")
        self._ever_answered = False

    @staticmethod
    def _make_client(region: str | None, profile: str | None, max_concurrency: int, timeout_s: float) -> Any:
        # boto3 reads AWS_DEFAULT_REGION and AWS_PROFILE but not AWS_REGION, which most AWS tooling sets
        region = region or os.environ.get("AWS_REGION") or None
        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except ProfileNotFound as exc:
            missing = exc.kwargs.get("profile", profile)
            raise BackendUnavailable(f"AWS profile '{missing}' not found in the AWS config: check --profile") from None
        if not session.region_name:
            raise BackendUnavailable("no AWS region for Bedrock: pass --region or set AWS_REGION")
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},  # resilience.py retries, once
            connect_timeout=min(10.0, timeout_s),
            read_timeout=timeout_s,
            max_pool_connections=max_concurrency,
        )
        try:
            return session.client("bedrock-runtime", config=config)
        except (NoRegionError, BotoCoreError) as exc:
            raise BackendUnavailable(f"cannot create a Bedrock client: {exc}") from None

    def __repr__(self) -> str:
        return f"BedrockBackend(model={self.model_id!r}, region={self.region!r})"

    # ---- calls ------------------------------------------------------------------------------------------

    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        error = "Bedrock Converse gives no token log-probabilities; judge in generate mode"
        return [LabelResult(probs=None, error=error) for _ in prompts]

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        return run_sync(self.agenerate(prompts, max_new_tokens))

    async def agenerate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        return list(await asyncio.gather(*(self._generate_one(p, max_new_tokens) for p in prompts)))

    def call_stats(self) -> CallStatsReport:
        return self._stats.report()

    def check(self) -> None:
        """One tiny Converse call: no network, wrong credentials, region, access or model id raise one line."""
        (reply,) = self.generate([JudgePrompt(system="", user="Reply with OK.")], max_new_tokens=1)
        if reply.error is not None:
            raise BackendUnavailable(f"Bedrock model '{self.model_id}' in {self.region} cannot judge: {reply.error}")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _generate_one(self, prompt: JudgePrompt, max_new_tokens: int) -> Generation:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()

        async def attempt(endpoint: Endpoint) -> dict[str, Any]:
            try:
                async with asyncio.timeout(2 * self.timeout_s):  # botocore's read timeout is the first line
                    return await loop.run_in_executor(self._executor, self._converse, prompt, max_new_tokens)
            except TimeoutError:
                raise CallFailure("timeout", f"no reply from Bedrock within {2 * self.timeout_s:g} s") from None

        try:
            response = await call_with_retries(
                attempt, self.pool, self.policy, clock=self.clock, rng=self._rng, stats=self._stats
            )
        except CallFailure as failure:
            if failure.kind in SETUP_KINDS:
                raise BackendUnavailable(self._setup_message(failure)) from None
            if not self._ever_answered and failure.kind in ("connection", "timeout"):
                raise BackendUnavailable(f"cannot reach Bedrock in {self.region}: {failure.message}") from None
            return Generation(text=None, error=failure.message, latency_s=time.perf_counter() - started)
        return self._generation(response, max_new_tokens, time.perf_counter() - started)

    def _converse(self, prompt: JudgePrompt, max_new_tokens: int) -> dict[str, Any]:
        """One Converse request (in a worker thread); failures come out classified."""
        request: dict[str, Any] = {
            "modelId": self.model_id,
            "messages": [{"role": "user", "content": [{"text": prompt.user}]}],
            "inferenceConfig": {"maxTokens": max_new_tokens},
        }
        if prompt.system:
            request["system"] = [{"text": prompt.system}]
        if self.temperature is not None:
            request["inferenceConfig"]["temperature"] = self.temperature
        try:
            response: dict[str, Any] = self.client.converse(**request)
        except ClientError as exc:
            self._ever_answered = True  # the service answered, if only with an error
            raise classify_client_error(exc) from None
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise CallFailure("auth", f"no usable AWS credentials ({exc})") from None
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            raise CallFailure("timeout", f"Bedrock: {exc}") from None
        except (EndpointConnectionError, ConnectionClosedError) as exc:
            raise CallFailure("connection", f"Bedrock: {exc}") from None
        except BotoCoreError as exc:
            raise CallFailure("connection", f"Bedrock: {type(exc).__name__}: {exc}") from None
        self._ever_answered = True
        if not isinstance(response.get("output", {}).get("message"), dict):
            raise CallFailure("malformed", "Bedrock reply has no output message")
        return response

    def _generation(self, response: dict[str, Any], max_new_tokens: int, latency: float) -> Generation:
        blocks = response["output"]["message"].get("content") or []
        # reasoning models put reasoningContent blocks before the answer; only text blocks are the answer
        text = "".join(block["text"] for block in blocks if isinstance(block, dict) and "text" in block)
        usage = response.get("usage") or {}
        stop = response.get("stopReason")
        result = Generation(
            text=text,
            prompt_tokens=int(usage.get("inputTokens", 0)),
            completion_tokens=int(usage.get("outputTokens", 0)),
            latency_s=latency,
        )
        if stop in ("guardrail_intervened", "content_filtered"):
            return replace(result, text=None, error=f"Bedrock blocked the reply ({stop})")
        if not text and stop == "max_tokens":
            return replace(result, text=None, error=f"no answer within {max_new_tokens} tokens (stopReason=max_tokens)")
        return result

    def _setup_message(self, failure: CallFailure) -> str:
        if failure.kind == "auth":
            return f"Bedrock refused access in {self.region} (credentials, profile or model access): {failure.message}"
        return f"Bedrock model '{self.model_id}' not found or not usable in {self.region}: {failure.message}"
