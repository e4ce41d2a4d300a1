"""The chat-completions wire format: validating replies and turning HTTP outcomes into classified failures.

Only the fields judgerl reads are modelled; everything else a server adds is ignored. A reply that does not
fit (truncated JSON, no choices, an HTML error page with status 200) is a ``malformed`` failure, retried like a
transport error, never read as a verdict.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judgerl.backends.resilience import CallFailure, FailureKind, parse_retry_after

_LENIENT = ConfigDict(extra="ignore")


class TopLogprob(BaseModel):
    model_config = _LENIENT

    token: str
    logprob: float


class TokenLogprob(BaseModel):
    model_config = _LENIENT

    token: str
    logprob: float
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(BaseModel):
    model_config = _LENIENT

    content: list[TokenLogprob] | None = None


class ReplyMessage(BaseModel):
    model_config = _LENIENT

    content: str | None = None
    refusal: str | None = None


class Choice(BaseModel):
    model_config = _LENIENT

    message: ReplyMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None


class Usage(BaseModel):
    model_config = _LENIENT

    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatCompletion(BaseModel):
    model_config = _LENIENT

    choices: list[Choice]
    usage: Usage | None = None

    def first_token_alternatives(self) -> list[tuple[str, float]] | None:
        """(token, logprob) for the first answer token: the chosen one and its top alternatives."""
        logprobs = self.choices[0].logprobs
        if logprobs is None or not logprobs.content:
            return None
        first = logprobs.content[0]
        return [(first.token, first.logprob), *((t.token, t.logprob) for t in first.top_logprobs)]


class ModelList(BaseModel):
    model_config = _LENIENT

    data: list[dict[str, Any]] = Field(default_factory=list)

    def ids(self) -> list[str]:
        return [str(entry["id"]) for entry in self.data if isinstance(entry, dict) and "id" in entry]


def server_message(response: httpx.Response, limit: int = 240) -> str:
    """The server's own error message, on one line, from the usual JSON shapes or the body text."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message") or error.get("code")
        elif isinstance(error, str):
            message = error
        message = message or body.get("message") or body.get("detail")
    message = str(message if message is not None else text).strip() or response.reason_phrase
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def classify_status(response: httpx.Response) -> CallFailure:
    """The failure an HTTP error status means, carrying the server's message and any Retry-After."""
    status = response.status_code
    message = f"HTTP {status} from {response.request.url}: {server_message(response)}"
    retry_after = parse_retry_after(dict(response.headers))
    kind: FailureKind
    if status == 429:
        kind = "rate_limited"
    elif status in (401, 403):
        kind = "auth"
    elif status == 404:
        kind = "not_found"
    elif status in (408, 425) or status >= 500:
        kind = "server_error"
    else:
        kind = "bad_request"
    return CallFailure(kind, message, retry_after if kind in ("rate_limited", "server_error") else None)


def parse_completion(response: httpx.Response) -> ChatCompletion:
    """A validated completion from a 200 reply, or a ``malformed`` failure."""
    where = str(response.request.url)
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise CallFailure("malformed", f"reply from {where} is not valid JSON ({exc})") from None
    try:
        completion = ChatCompletion.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise CallFailure(
            "malformed", f"reply from {where} is not a chat completion ({field}: {first['msg']})"
        ) from None
    if not completion.choices:
        raise CallFailure("malformed", f"reply from {where} has no choices")
    return completion
