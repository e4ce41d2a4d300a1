"""The HTTP reward server (FastAPI): one judge (a rubric, or an OpenAI grader file) behind the Nova, OpenRLHF and
judgerl contracts.

Routes: ``POST /v1/nova`` (Amazon Nova RFT batch), ``POST /get_reward`` (OpenRLHF remote reward model),
``POST /v1/judge`` (rubric or pairwise verdicts with rationales; verl's client uses it), ``GET /health``,
``GET /metrics`` (Prometheus), and OpenAI's grader API (``POST /v1/fine_tuning/alpha/graders/run`` and
``/validate``; :mod:`judgerl.serve.grader_api`). With a token configured every route but /health needs
``Authorization: Bearer``.
Limits: body size (413), batch size (413), time per request (samples not judged in time are unscored and the
failure policy applies). Bad input is a 422 whose ``error`` names the field.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import h11
from fastapi import Body, Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from judgerl.aio import judge_executor
from judgerl.judges.cascade import PairJudging
from judgerl.judges.outcome import RewardOutcome, UnscoredPolicy, outcome_from_verdict
from judgerl.judges.pairwise_judge import consistency_rate
from judgerl.samples import PairSample, Sample
from judgerl.serve.config import BuiltJudge
from judgerl.serve.contract import RewardScorer, UnscoredSamples
from judgerl.serve.grader_api import RUN as GRADERS_RUN
from judgerl.serve.grader_api import VALIDATE as GRADERS_VALIDATE
from judgerl.serve.grader_api import grader_api
from judgerl.serve.metrics import Metrics
from judgerl.serve.nova import NovaResult, enforce_scored_share, nothing_scorable, nova_result, parse_lenient
from judgerl.serve.openrlhf import (
    DEFAULT_STRIP_TOKENS,
    OpenRLHFRequest,
    OpenRLHFResponse,
    openrlhf_response,
    samples_from_openrlhf,
)
from judgerl.verdicts import PairVerdict, SampleVerdict

logger = logging.getLogger(__name__)
#: what a send raises once h11 has answered a malformed request (a bad chunk) with 400 and must close
ALREADY_ANSWERED = (h11.LocalProtocolError,)

ROUTES = ("/v1/nova", "/get_reward", "/v1/judge", "/health", "/metrics", GRADERS_RUN, GRADERS_VALIDATE)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class ServerSettings(BaseModel):
    """Limits, auth and failure policy of one server."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = Field(default=None, description="Bearer token; None leaves the server open.")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_batch: int = Field(default=1024, gt=0)
    request_timeout_s: float = Field(
        default=170.0, gt=0, description="Judging time per request; OpenRLHF's client gives up after 180 s."
    )
    policy: UnscoredPolicy = Field(default_factory=UnscoredPolicy)
    strip_tokens: tuple[str, ...] = DEFAULT_STRIP_TOKENS
    body_timeout_s: float = Field(default=60.0, gt=0, description="Time to receive a whole request body (408).")
    header_timeout_s: float = Field(default=10.0, gt=0, description="Time to receive a request's headers.")
    keep_alive_s: float = Field(default=75.0, ge=1, description="Idle time before a kept-alive connection closes.")
    max_connections: int = Field(default=512, gt=0, description="Open connections and requests before 503.")


class JudgeRequest(BaseModel):
    """Exactly one of ``samples`` (rubric verdicts) or ``pairs`` (pairwise verdicts; needs --pairwise)."""

    model_config = ConfigDict(extra="forbid")

    samples: list[Sample] | None = None
    pairs: list[PairSample] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> JudgeRequest:
        if (self.samples is None) == (self.pairs is None):
            raise ValueError("send exactly one of 'samples' (rubric verdicts) or 'pairs' (pairwise verdicts)")
        return self


class RubricInfo(BaseModel):
    """The rubric's name and criteria; with a grader, its name and its sub-graders (itself when not multi)."""

    name: str
    criteria: list[str]


class JudgeResponse(BaseModel):
    rubric: RubricInfo
    verdicts: list[SampleVerdict] = Field(default_factory=list)
    pair_verdicts: list[PairVerdict] = Field(default_factory=list)
    consistency_rate: float | None = None


class ErrorResponse(BaseModel):
    error: str
    detail: Any = None


def _where(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


PROTECTED = frozenset({"/v1/nova", "/get_reward", "/v1/judge", "/metrics", GRADERS_RUN, GRADERS_VALIDATE})


class LimitsAndMetrics:
    """ASGI middleware, before any body is read: the bearer token (401), the declared size (413); then the body
    under a size limit (413) and a deadline (408). A client that disconnects mid-body never reaches the app.
    Every request is counted."""

    def __init__(self, app: ASGIApp, settings: ServerSettings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in ROUTES else "other"
        started, status = time.perf_counter(), 500
        self.metrics.inc("judgerl_requests_in_flight")

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            try:
                await send(message)
            except ALREADY_ANSWERED:  # the protocol answered a malformed body with 400 itself: nothing to add
                logger.info("%s: the connection was already answered 400 and closed", scope["path"][:100])

        try:
            if scope["path"] in PROTECTED and not self._authorised(scope):
                await self._refuse(counting_send, 401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
                return
            body = await self._read_body(scope, receive)
            if isinstance(body, int):
                if body == CLIENT_GONE:
                    status = CLIENT_GONE
                    return
                await self._refuse(counting_send, body, self._problem(body), {"Connection": "close"})
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, counting_send)
        finally:
            self.metrics.inc("judgerl_requests_in_flight", value=-1)
            self.metrics.inc("judgerl_requests_total", {"route": route, "status": str(status)})
            self.metrics.observe("judgerl_request_duration_seconds", time.perf_counter() - started, {"route": route})

    def _authorised(self, scope: Scope) -> bool:
        token = self.settings.token
        if token is None:
            return True
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, given = header.partition(b" ")
        given = given.strip() if scheme.lower() == b"bearer" else b""
        return hmac.compare_digest(given, token.get_secret_value().encode())

    def _problem(self, status: int) -> str:
        if status == 400:
            return "Content-Length and Transfer-Encoding together: send one of them"
        if status == 413:
            return f"request body larger than the server's limit of {self.max_body_bytes} bytes (--max-body-mb)"
        return f"request body not received within {self.settings.body_timeout_s:g} s (--body-timeout)"

    async def _read_body(self, scope: Scope, receive: Callable[[], Awaitable[Message]]) -> bytes | int:
        """The whole body, or the status that refuses it: 400, 413, 408, or CLIENT_GONE (disconnected mid-body)."""
        headers = dict(scope.get("headers") or [])
        if b"transfer-encoding" in headers and b"content-length" in headers:
            return 400  # ambiguous framing (a request-smuggling shape): refused, never guessed
        raw = headers.get(b"content-length")
        declared = int(raw) if raw is not None and raw.isdigit() else None
        if declared is not None and declared > self.max_body_bytes:
            return 413
        deadline = time.monotonic() + self.settings.body_timeout_s
        chunks, size, more = [], 0, True
        while more:
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return 408
            if message["type"] == "http.disconnect":
                return CLIENT_GONE
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return 413
            chunks.append(chunk)
            more = message.get("more_body", False)
        if declared is not None and size != declared:
            return CLIENT_GONE  # a truncated body is never judged
        return b"".join(chunks)

    async def _refuse(self, send: Any, status: int, error: str, headers: dict[str, str]) -> None:
        response = JSONResponse({"error": error, "detail": error}, status_code=status, headers=headers)
        await response({"type": "http"}, _no_body, send)


def _short_loc(loc: Sequence[Any]) -> list[Any]:
    return [part[:80] + "…" if isinstance(part, str) and len(part) > 80 else part for part in loc]


#: the status counted for a request whose client went away before its body arrived (nginx's convention)
CLIENT_GONE = 499


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


bearer_scheme = HTTPBearer(auto_error=False, description="The token the server was started with (--token-env).")


async def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> None:
    """Constant-time check of the bearer token, when the server has one."""
    token: SecretStr | None = request.app.state.settings.token
    if token is None:
        return
    given = credentials.credentials.encode() if credentials is not None else b""
    if not hmac.compare_digest(given, token.get_secret_value().encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def create_app(judge: BuiltJudge, settings: ServerSettings | None = None) -> FastAPI:
    """The reward server for one built judge. The caller owns ``judge`` (and closes it)."""
    settings = settings or ServerSettings()
    scorer = RewardScorer(judge.judge, settings.policy, judge.config.concurrency)
    metrics = Metrics()
    rubric_info = RubricInfo(name=judge.name, criteria=judge.criterion_names)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        executor = judge_executor(scorer.concurrency)  # honour --concurrency for thread-based backends
        asyncio.get_running_loop().set_default_executor(executor)
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        lifespan=lifespan,
        title="judgerl reward server",
        version="1",
        description="Rubric and preference rewards from an LLM judge, for Nova RFT, OpenRLHF and verl.",
    )
    app.state.metrics, app.state.scorer, app.state.settings = metrics, scorer, settings
    app.add_middleware(LimitsAndMetrics, settings=settings, metrics=metrics)
    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (401, 413, 422, 503)}

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # field names come from the client: shortened, and at most 20 problems, so a 4 MB key is not echoed back
        problems = [
            {k: (_short_loc(v) if k == "loc" else v) for k, v in e.items() if k not in ("input", "ctx", "url")}
            for e in exc.errors()[:20]
        ]
        first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
        message = f"{_where(first.get('loc', ()))}: {str(first.get('msg', '')).removeprefix('Value error, ')}"
        return JSONResponse({"error": message, "detail": jsonable_encoder(problems)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail), "detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(UnscoredSamples)
    async def _unscored(request: Request, exc: UnscoredSamples) -> JSONResponse:
        detail = [{"id": sid, "reason": reason} for sid, reason in exc.unscored]
        return JSONResponse({"error": str(exc), "detail": detail}, status_code=503)

    def check_batch(size: int, field: str) -> None:
        if size == 0:
            raise HTTPException(422, f"{field}: the batch is empty; send at least one sample")
        if size > settings.max_batch:
            raise HTTPException(413, f"{field}: {size} samples exceed the server's limit of {settings.max_batch}")

    def record(route: str, outcomes: Sequence[RewardOutcome]) -> None:
        labels = {"route": route}
        metrics.inc("judgerl_samples_total", labels, len(outcomes))
        metrics.inc("judgerl_unscored_total", labels, sum(o.unscored for o in outcomes))
        for outcome in outcomes:
            metrics.observe("judgerl_judge_latency_seconds", outcome.latency_s)
            metrics.inc("judgerl_cache_hits_total", value=outcome.cached_criteria)
            metrics.inc("judgerl_criterion_verdicts_total", value=len(outcome.criteria))

    async def score(route: str, items: Sequence[Any]) -> list[RewardOutcome]:
        try:
            outcomes = await scorer.ascore(items, door=route, timeout_s=settings.request_timeout_s)
        except UnscoredSamples as exc:
            metrics.inc("judgerl_samples_total", {"route": route}, len(items))
            metrics.inc("judgerl_unscored_total", {"route": route}, len(exc.unscored))
            raise
        record(route, outcomes)
        return outcomes

    @app.get("/health")
    async def health() -> dict[str, Any]:
        judge_state = scorer.health.report()  # read from recent verdicts: "degraded" when the judge stopped answering
        return {
            "status": "degraded" if judge_state["reachable"] is False else "ok",
            "judge": judge_state,
            "rubric": rubric_info.model_dump(),
            "pairwise": judge.pairwise_judge is not None,
            "backend": "cascade" if judge.config.cascade else judge.config.backend,
            "judge_model": judge.model_id,
            "grader": judge.config.grader,
            "policy": settings.policy.model_dump(),
            "limits": {
                "max_body_bytes": settings.max_body_bytes,
                "max_batch": settings.max_batch,
                "request_timeout_s": settings.request_timeout_s,
            },
        }

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(require_token)], responses=errors)
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/v1/nova", response_model=list[NovaResult], dependencies=[Depends(require_token)], responses=errors)
    async def nova(batch: Annotated[list[Any], Body()]) -> list[dict[str, Any]]:
        check_batch(len(batch), "body")
        # the Lambda's rule: a bad sample is unscored, the others are scored; validating and cleaning grow with the
        # body, so they run off the loop
        samples = await asyncio.to_thread(parse_lenient, batch)
        problem = await asyncio.to_thread(nothing_scorable, batch, samples)
        if problem is not None:
            raise HTTPException(422, problem)
        outcomes = await score("/v1/nova", samples)
        enforce_scored_share(outcomes, settings.policy)  # 503 naming the reasons, never a silently neutral batch
        return [nova_result(o) for o in outcomes]

    @app.post("/get_reward", response_model=OpenRLHFResponse, dependencies=[Depends(require_token)], responses=errors)
    async def get_reward(request: OpenRLHFRequest) -> dict[str, Any]:
        check_batch(len(request.query), "query")
        # cutting responses out of multi-megabyte queries is CPU work: off the event loop, so /health still answers
        samples = await asyncio.to_thread(samples_from_openrlhf, request, settings.strip_tokens)
        outcomes = await score("/get_reward", samples)
        return openrlhf_response(outcomes, scorer.criterion_names, settings.policy)

    @app.post("/v1/judge", response_model=JudgeResponse, dependencies=[Depends(require_token)], responses=errors)
    async def judge_route(request: JudgeRequest) -> JudgeResponse:
        if request.samples is not None:
            check_batch(len(request.samples), "samples")
            verdicts = await scorer.averdicts(request.samples, timeout_s=settings.request_timeout_s)
            record("/v1/judge", [outcome_from_verdict(v, settings.policy) for v in verdicts])
            return JudgeResponse(rubric=rubric_info, verdicts=verdicts)
        assert request.pairs is not None
        if judge.pairwise_judge is None:
            raise HTTPException(422, "pairs: this server judges single samples only; start it with --pairwise")
        check_batch(len(request.pairs), "pairs")
        pair_verdicts = await judge_pairs(judge.pairwise_judge, request.pairs, scorer, settings.request_timeout_s)
        labels = {"route": "/v1/judge"}
        metrics.inc("judgerl_samples_total", labels, len(pair_verdicts))
        metrics.inc("judgerl_unscored_total", labels, sum(not v.scored for v in pair_verdicts))
        return JudgeResponse(
            rubric=rubric_info, pair_verdicts=pair_verdicts, consistency_rate=consistency_rate(pair_verdicts)
        )

    app.include_router(grader_api(judge, settings.request_timeout_s, Depends(require_token), errors))  # OpenAI's
    return app


async def judge_pairs(
    judge: PairJudging, pairs: Sequence[PairSample], scorer: RewardScorer, timeout_s: float | None
) -> list[PairVerdict]:
    """Pair verdicts in order under the server's shared concurrency bound; late pairs come back unscored."""
    outcomes = await scorer.judge_each(pairs, judge.ajudge, timeout_s)
    return [
        PairVerdict(id=pair.id, p_a=None, winner=None, unscored_reason=outcome, judge_model=judge.backend.model_id)
        if isinstance(outcome, str)
        else outcome
        for pair, outcome in zip(pairs, outcomes, strict=True)
    ]


class BackgroundServer:
    """Serve an app with uvicorn on a thread (tests, notebooks): ``with BackgroundServer(app) as server: server.url``.

    Binds the socket itself (port 0 picks a free port), so there is no race between choosing and binding."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        from judgerl.serve.transport import uvicorn_options

        settings = getattr(getattr(app, "state", None), "settings", None) or ServerSettings()
        options = uvicorn_options(
            keep_alive_s=settings.keep_alive_s,
            header_timeout_s=settings.header_timeout_s,
            max_connections=settings.max_connections,
            graceful_shutdown_s=5,
        )
        config = uvicorn.Config(app, log_level=log_level, lifespan="on", **options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="judgerl-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the reward server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._socket.close()
