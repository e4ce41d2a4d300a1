"""``--backend openai``: any OpenAI-compatible chat-completions server (vLLM, SGLang, llama.cpp, Ollama, OpenAI).

- logprob mode: ``max_tokens=1, logprobs=True, top_logprobs=20`` after a user message asking for the label
  alone; the first token's alternatives are mapped onto the labels (label_logprobs.py). A server that gives
  no log-probabilities is detected once (``supports_logprobs`` probes it) and the judges switch to generate mode.
- at most ``max_concurrency`` requests in flight, spread over several base URLs (least in flight first),
  with retries, backoff and jitter, Retry-After, a per-request timeout and per-URL circuit breakers
  (resilience.py).
- set-up errors (unreachable server, rejected key, unknown model) raise BackendUnavailable with one line;
  everything else becomes a per-prompt error that the judge turns into an unscored verdict.
- the API key comes from ``api_key`` or the environment (``OPENAI_API_KEY``) and is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from judgerl.aio import run_sync
from judgerl.backends.base import Generation, JudgeBackend, JudgePrompt, LabelResult
from judgerl.backends.label_logprobs import read_labels
from judgerl.backends.openai_wire import ChatCompletion, ModelList, classify_status, parse_completion
from judgerl.backends.resilience import (
    SETUP_KINDS,
    CallFailure,
    CallStats,
    CallStatsReport,
    Clock,
    Endpoint,
    EndpointPool,
    RetryPolicy,
    SystemClock,
    call_with_retries,
)
from judgerl.errors import BackendUnavailable, JudgerlError

logger = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
TokenParam = Literal["auto", "max_tokens", "max_completion_tokens"]


def normalise_base_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; a URL with a path is kept as given."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise JudgerlError(f"--base-url '{url}': expected http(s)://host[:port][/v1]")
    return url if parts.path not in ("", "/") else url + "/v1"


#: httpcore's pool scans all its connections for every waiting request, so one pool of 64 connections costs
#: O(64^2) work per wave of requests (about 9 ms of CPU per request at 64 in flight, measured). Several small
#: clients keep each scan short; benchmarks/remote_throughput.py compares the two.
CONNECTIONS_PER_CLIENT = 8


async def _close_with_loop(clients: list[httpx.AsyncClient]) -> AsyncIterator[None]:
    """Held open for as long as its event loop runs: asyncio.run's shutdown of async generators closes the
    clients, so a new loop per ``judge()`` call (as sync callers make) leaves no connection behind."""
    try:
        yield
    finally:
        for client in clients:
            await client.aclose()


@dataclass
class _LoopState:
    """Per event loop: HTTP clients and one slot per allowed request in flight, naming the client to use."""

    clients: list[httpx.AsyncClient]
    slots: asyncio.Queue[int]
    keeper: AsyncIterator[None]


class OpenAIBackend(JudgeBackend):
    """A judge behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_urls: Sequence[str] | str | None = None,
        *,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 16,
        connections_per_client: int = CONNECTIONS_PER_CLIENT,
        timeout_s: float = 60.0,
        max_attempts: int = 6,
        retry_base_s: float = 0.5,
        retry_max_s: float = 20.0,
        deadline_s: float = 300.0,
        breaker_failures: int = 5,
        breaker_reset_s: float = 10.0,
        logprobs: bool | None = None,
        top_logprobs: int = 20,
        token_param: TokenParam = "auto",
        temperature: float | None = 0.0,
        seed: int | None = None,
        reasoning_effort: str | None = None,
        max_input_tokens: int = 8192,
        extra_body: dict[str, Any] | None = None,
        clock: Clock | None = None,
        rng_seed: int | None = None,
    ) -> None:
        super().__init__(model_id=model, max_input_tokens=max_input_tokens)
        if not model or not model.strip():
            raise JudgerlError("--model: the openai backend needs the server's model name")
        if isinstance(base_urls, str):
            base_urls = [u for u in base_urls.split(",") if u.strip()]
        urls = [normalise_base_url(u) for u in (base_urls or [os.environ.get("OPENAI_BASE_URL") or OPENAI_URL])]
        if len(set(urls)) != len(urls):
            raise JudgerlError(f"--base-url: the same URL is given twice ({', '.join(urls)})")
        if max_concurrency < 1:
            raise JudgerlError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if timeout_s <= 0:
            raise JudgerlError(f"timeout_s must be > 0, got {timeout_s}")
        if not 1 <= top_logprobs <= 20:
            raise JudgerlError(f"top_logprobs must be between 1 and 20, got {top_logprobs}")
        if token_param not in ("auto", "max_tokens", "max_completion_tokens"):
            raise JudgerlError(f"token_param '{token_param}' is not one of auto, max_tokens, max_completion_tokens")
        self.base_urls = urls
        self._api_key = api_key if api_key is not None else os.environ.get(api_key_env)
        self._api_key_env = api_key_env
        if not self._api_key and any(urlsplit(u).hostname == "api.openai.com" for u in urls):
            raise BackendUnavailable(f"no API key for api.openai.com: set {api_key_env}")
        self.max_concurrency = max_concurrency
        self.connections_per_client = max(1, connections_per_client)
        self.timeout_s = timeout_s
        self.policy = RetryPolicy(max_attempts, retry_base_s, retry_max_s, deadline_s)
        self.clock: Clock = clock or SystemClock()
        self.pool = EndpointPool(urls, self.clock, breaker_failures, breaker_reset_s)
        self._rng = random.Random(rng_seed)
        self._stats = CallStats()
        self._logprobs = logprobs
        self.top_logprobs = top_logprobs
        self._token_param: TokenParam = token_param
        self.temperature = temperature
        self.seed = seed
        self.reasoning_effort = reasoning_effort
        self.extra_body = dict(extra_body or {})
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self._ever_succeeded = False
        self._models_hint: list[str] = []
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"OpenAIBackend(model={self.model_id!r}, base_urls={self.base_urls!r}, api_key={key})"

    # ---- log-probability support ------------------------------------------------------------------------

    @property
    def supports_logprobs(self) -> bool:
        """Whether the server returns token log-probabilities; asked once, on first use, when not given."""
        if self._logprobs is None:
            self._logprobs = run_sync(self._probe_logprobs())
        return self._logprobs

    @supports_logprobs.setter
    def supports_logprobs(self, value: bool) -> None:
        self._logprobs = value

    async def _probe_logprobs(self) -> bool:
        probe = JudgePrompt(system="", user="Is 2 + 2 = 4?")
        payload = self._payload(probe, 1, logprobs=True, labels=("PASS", "FAIL"))
        try:
            completion = await self._complete(payload)
        except _LogprobsUnsupported as exc:
            self._say_no_logprobs(str(exc), logging.INFO)  # the judge that asked says it switches mode
            return False
        except CallFailure as failure:
            raise BackendUnavailable(
                f"could not ask the judge server whether it gives log-probabilities: {failure.message}"
            ) from None
        if completion.first_token_alternatives() is None:
            self._say_no_logprobs("its replies carry no logprobs", logging.INFO)
            return False
        return True

    def _say_no_logprobs(self, why: str, level: int = logging.WARNING) -> None:
        if "logprobs" not in self._warned:
            self._warned.add("logprobs")
            logger.log(level, "the server at %s gives no token log-probabilities (%s)", ", ".join(self.base_urls), why)

    # ---- public calls -----------------------------------------------------------------------------------

    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        return run_sync(self.alabel_probs(prompts, labels))

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        return run_sync(self.agenerate(prompts, max_new_tokens))

    async def alabel_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        return list(await asyncio.gather(*(self._label_one(p, labels) for p in prompts)))

    async def agenerate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        return list(await asyncio.gather(*(self._generate_one(p, max_new_tokens) for p in prompts)))

    def call_stats(self) -> CallStatsReport:
        return self._stats.report()

    def check(self) -> None:
        run_sync(self.acheck())

    async def acheck(self) -> None:
        """Probe every base URL once and the model with one tiny completion; one-line errors for an
        unreachable server, a rejected key or an unknown model. Also settles ``supports_logprobs``."""
        served: dict[str, list[str]] = {}
        unreachable: dict[str, str] = {}
        for url in self.base_urls:
            try:
                served[url] = await self._list_models(url)
            except CallFailure as failure:
                if failure.kind == "auth":
                    raise BackendUnavailable(self._auth_message(failure)) from None
                if failure.kind in ("connection", "timeout"):
                    unreachable[url] = failure.message
                else:
                    served[url] = []  # no model listing here; the completion probe decides
        if not served:
            url, why = next(iter(unreachable.items()))
            raise BackendUnavailable(f"cannot reach the judge server at {url}: {why}")
        for url, why in unreachable.items():
            logger.warning("judge server %s is unreachable (%s); using the others", url, why)
        self._models_hint = sorted({m for models in served.values() for m in models})
        if self._models_hint and self.model_id not in self._models_hint:
            # vLLM and OpenAI answer 404 below; llama.cpp and some proxies serve their one model under any name
            logger.warning(
                "the judge server lists %s, not '%s'; it may answer with another model",
                ", ".join(self._models_hint[:10]),
                self.model_id,
            )
        if self._logprobs is None:
            self._logprobs = await self._probe_logprobs()
        else:
            await self._complete(self._payload(JudgePrompt(system="", user="Reply with OK."), 1, logprobs=False))

    def close(self) -> None:
        for loop, state in list(self._states.items()):
            if not loop.is_closed() and not loop.is_running():
                for client in state.clients:
                    loop.run_until_complete(client.aclose())
        self._states.clear()

    # ---- one prompt -------------------------------------------------------------------------------------

    def _messages(self, prompt: JudgePrompt, labels: Sequence[str] | None) -> list[dict[str, str]]:
        user = prompt.user
        if labels:  # no assistant prefill over chat completions: the label must be the first token
            user += f"\n\nReply with the label only, one word: {' or '.join(labels)}."
        messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
        messages.append({"role": "user", "content": user})
        return messages

    def _payload(
        self, prompt: JudgePrompt, max_tokens: int, *, logprobs: bool, labels: Sequence[str] | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model_id, "messages": self._messages(prompt, labels), "n": 1}
        payload["max_tokens"] = max_tokens  # renamed at send time for reasoning models
        if self.temperature is not None:
            payload["temperature"] = self.temperature
        if self.seed is not None:
            payload["seed"] = self.seed
        if self.reasoning_effort is not None:
            payload["reasoning_effort"] = self.reasoning_effort
        if logprobs:
            payload["logprobs"] = True
            payload["top_logprobs"] = self.top_logprobs
        return {**payload, **self.extra_body}

    def _estimate_prompt_tokens(self, prompt: JudgePrompt) -> int:
        return self.count_tokens(prompt.system) + self.count_tokens(prompt.user)

    async def _label_one(self, prompt: JudgePrompt, labels: Sequence[str]) -> LabelResult:
        started = time.perf_counter()
        payload = self._payload(prompt, 1, logprobs=True, labels=labels)
        try:
            completion = await self._complete(payload)
        except CallFailure as failure:
            if isinstance(failure, _LogprobsUnsupported):
                self._logprobs = False
                self._say_no_logprobs(str(failure))
            return LabelResult(probs=None, error=self._redact(str(failure)), latency_s=time.perf_counter() - started)
        usage = completion.usage
        prompt_tokens = usage.prompt_tokens if usage else self._estimate_prompt_tokens(prompt)
        completion_tokens = usage.completion_tokens if usage else 1
        result = LabelResult(
            probs=None,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=time.perf_counter() - started,
        )
        alternatives = completion.first_token_alternatives()
        if alternatives is None:
            return replace(result, error="the server returned no log-probabilities for the answer")
        reading = read_labels(alternatives, labels)
        if reading.error is not None:
            return replace(result, mass=0.0, error=reading.error)
        return replace(result, probs=reading.probs, mass=reading.mass)

    async def _generate_one(self, prompt: JudgePrompt, max_new_tokens: int) -> Generation:
        started = time.perf_counter()
        payload = self._payload(prompt, max_new_tokens, logprobs=False)
        try:
            completion = await self._complete(payload)
        except CallFailure as failure:
            return Generation(text=None, error=self._redact(str(failure)), latency_s=time.perf_counter() - started)
        choice, usage = completion.choices[0], completion.usage
        text = choice.message.content
        result = Generation(
            text=text or "",
            prompt_tokens=usage.prompt_tokens if usage else self._estimate_prompt_tokens(prompt),
            completion_tokens=usage.completion_tokens if usage else self.count_tokens(text or ""),
            latency_s=time.perf_counter() - started,
        )
        if not text and choice.message.refusal:
            return replace(result, text=None, error=f"the judge refused: {choice.message.refusal[:200]}")
        if not text and choice.finish_reason == "length":
            why = f"no answer within {max_new_tokens} tokens (reasoning models need more; raise max_new_tokens)"
            return replace(result, text=None, error=why)
        return result

    # ---- HTTP -------------------------------------------------------------------------------------------

    async def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            count = -(-self.max_concurrency // self.connections_per_client)
            owners = [slot % count for slot in range(self.max_concurrency)]
            clients = [
                httpx.AsyncClient(
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s), pool=None),
                    limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                )
                for size in (owners.count(index) for index in range(count))
            ]
            slots: asyncio.Queue[int] = asyncio.Queue()
            for owner in owners:
                slots.put_nowait(owner)
            keeper = _close_with_loop(clients)
            state = _LoopState(clients, slots, keeper)
            self._states[loop] = state
            await keeper.__anext__()
        return state

    async def _complete(self, payload: dict[str, Any]) -> ChatCompletion:
        """One completion with retries across endpoints; set-up failures raise BackendUnavailable."""
        state = await self._state()

        async def attempt(endpoint: Endpoint) -> ChatCompletion:
            owner = await state.slots.get()
            try:
                return await self._post(state.clients[owner], endpoint.name, payload)
            except CallFailure as failure:  # redact at the source: messages reach logs and verdicts
                failure.message = self._redact(failure.message)
                failure.args = (failure.message,)
                raise
            finally:
                state.slots.put_nowait(owner)

        try:
            completion = await call_with_retries(
                attempt, self.pool, self.policy, clock=self.clock, rng=self._rng, stats=self._stats
            )
        except CallFailure as failure:
            if failure.kind in SETUP_KINDS:
                raise BackendUnavailable(self._setup_message(failure)) from None
            if not self._ever_succeeded and failure.retryable:
                raise BackendUnavailable(
                    self._redact(f"the judge server did not answer ({', '.join(self.base_urls)}): {failure.message}")
                ) from None
            raise
        return completion

    async def _post(self, client: httpx.AsyncClient, base_url: str, payload: dict[str, Any]) -> ChatCompletion:
        url = f"{base_url}/chat/completions"
        for _ in range(2):  # a second try only after adapting the request to what the server accepts
            body = dict(payload)
            if self._token_param == "max_completion_tokens":
                body["max_completion_tokens"] = body.pop("max_tokens")
            response = await self._send(client, "POST", url, body)
            if response.status_code == 200:
                return parse_completion(response)
            failure = classify_status(response)
            if failure.kind != "bad_request":
                raise failure
            text = failure.message.lower()
            if self._token_param != "max_tokens" and "max_completion_tokens" in text and "max_tokens" in body:
                if self._token_param == "auto":  # requests already in flight may come back the same way
                    logger.info("%s wants max_completion_tokens, not max_tokens (a reasoning model)", self.model_id)
                self._token_param = "max_completion_tokens"
                continue
            if "logprobs" in text and "logprobs" in payload:
                raise _LogprobsUnsupported(failure.message)
            raise failure
        raise failure

    async def _send(
        self, client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any] | None
    ) -> httpx.Response:
        try:
            # httpx enforces timeout_s on connecting and on each read; this cap catches a server that trickles
            async with asyncio.timeout(2 * self.timeout_s):
                response = await client.request(method, url, json=body)
            self._ever_succeeded = True  # the server answered, whatever it said
            return response
        except (TimeoutError, httpx.TimeoutException):
            raise CallFailure("timeout", f"no reply from {url} within {self.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            detail = str(exc) or "connection dropped"
            raise CallFailure("connection", f"{url}: {type(exc).__name__}: {detail}") from None

    async def _list_models(self, base_url: str) -> list[str]:
        state = await self._state()
        response = await self._send(state.clients[0], "GET", f"{base_url}/models", None)
        if response.status_code != 200:
            raise classify_status(response)
        try:
            return ModelList.model_validate_json(response.content).ids()
        except ValueError:
            return []

    # ---- messages ---------------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _auth_message(self, failure: CallFailure) -> str:
        where = "set" if self._api_key else "no key was given"
        return self._redact(
            f"the judge server rejected the API key ({where}; it is read from ${self._api_key_env}): {failure.message}"
        )

    def _setup_message(self, failure: CallFailure) -> str:
        if failure.kind == "auth":
            return self._auth_message(failure)
        hint = self._models_hint
        served = f"; the server lists: {', '.join(hint[:10])}" if hint else ""
        return self._redact(f"model '{self.model_id}' not found (or a wrong --base-url): {failure.message}{served}")


class _LogprobsUnsupported(CallFailure):
    """The server rejected a request for log-probabilities (a 400 that no retry will change)."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_request", message)
