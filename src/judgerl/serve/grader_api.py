"""OpenAI's grader API on judgerl's server: ``POST /v1/fine_tuning/alpha/graders/run`` and ``/validate``.

A script written for OpenAI's SDK (``client.fine_tuning.alpha.graders.run(grader=..., model_sample=..., item=...)``
and ``.validate(grader=...)``) runs unchanged against ``judgerl serve`` by pointing ``base_url`` at
``http://host:port/v1`` (the api key is the server's bearer token, when it has one).

Requests and responses follow OpenAI's API reference: run takes ``{"grader", "model_sample", "item"?}`` and
answers the RunGraderResponse shape (:mod:`judgerl.graders.run_response`); validate takes ``{"grader"}`` and
answers ``{"grader"}``, and a grader that does not load is a 400 naming the field. ``model_sample`` may also be a
chat message, chat completion or Responses API response, so tool calls reach ``sample.output_tools``.

Model graders run on the server's judge backend; a server whose judge calls no model (a grader without model
graders) answers them unscored with the reason. Python graders are refused (400): running code from a request
is remote code execution; grade them with ``judgerl graders run`` or serve the file with ``--grader``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter
from fastapi.params import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from judgerl.errors import JudgerlError
from judgerl.graders.binding import embedder_for, embeddings_url_of
from judgerl.graders.grader import Grader
from judgerl.graders.run_response import run_response
from judgerl.graders.spec import GraderSpec, GraderSpecError, MultiSpec, PythonSpec, parse_spec
from judgerl.samples import clean_value
from judgerl.serve.config import BuiltJudge

RUN, VALIDATE = "/v1/fine_tuning/alpha/graders/run", "/v1/fine_tuning/alpha/graders/validate"


class GraderRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grader: dict[str, Any]
    model_sample: str | dict[str, Any]
    item: dict[str, Any] | None = None


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    """OpenAI's error shape, which its SDKs read the message from."""

    error: OpenAIErrorBody


class GraderValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grader: dict[str, Any]


class Refused(Exception):
    """A request OpenAI's API would refuse: answered in OpenAI's error shape, which its SDKs show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def response(self) -> JSONResponse:
        error = {"message": str(self), "type": "invalid_request_error", "param": "grader", "code": None}
        return JSONResponse({"error": error}, status_code=self.status)


def _spec(data: dict[str, Any]) -> GraderSpec:
    try:
        spec = parse_spec(data, "grader")
    except GraderSpecError as exc:
        raise Refused(400, str(exc)) from None
    leaves = list(spec.graders.values()) if isinstance(spec, MultiSpec) else [spec]
    if any(isinstance(leaf, PythonSpec) for leaf in leaves):
        raise Refused(
            400,
            "grader: python graders are not run from requests (that would run the caller's code on this server); "
            "grade them with `judgerl graders run`, or serve the file with `judgerl serve --grader`",
        )
    return spec


def grader_api(
    built: BuiltJudge, timeout_s: float, auth: Depends, responses: dict[int | str, dict[str, Any]] | None = None
) -> APIRouter:
    """The two routes, grading on ``built``'s backend within ``timeout_s`` per request; ``responses`` documents
    the server's own error statuses (401, 413, 422, ...) in the OpenAPI schema."""
    router = APIRouter(dependencies=[auth])
    documented: dict[int | str, dict[str, Any]] = {
        **(responses or {}),
        400: {"model": OpenAIError},
        503: {"model": OpenAIError},
    }

    @router.post(RUN, response_model=None, responses=documented)
    async def run(request: GraderRunRequest) -> dict[str, Any] | JSONResponse:
        # lone surrogates (JSON decoding lets '\ud800' and invalid UTF-8 through) are replaced, as at every door:
        # an answer quoting one could not be encoded (a 500)
        request = GraderRunRequest.model_validate(clean_value(request.model_dump()))
        try:
            spec = _spec(request.grader)
        except Refused as refused:
            return refused.response()
        try:
            embedder = embedder_for(spec, embeddings_url_of(built.config.options))
        except JudgerlError:
            embedder = None  # a cosine metric without an endpoint grades unscored, with the reason
        grader = Grader(spec, backend=built.backend, embedder=embedder)
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(grader.agrade(request.item or {}, request.model_sample), timeout_s)
        except TimeoutError:
            return Refused(503, f"grading took longer than the server's {timeout_s:g} s limit").response()
        return run_response(spec, result, time.perf_counter() - started)

    @router.post(VALIDATE, response_model=None, responses=documented)
    async def validate(request: GraderValidateRequest) -> dict[str, Any] | JSONResponse:
        request = GraderValidateRequest.model_validate(clean_value(request.model_dump()))
        try:
            _spec(request.grader)
        except Refused as refused:
            return refused.response()
        return {"grader": request.grader}

    return router
