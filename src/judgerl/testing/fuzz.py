"""Seeded random inputs for the reward server's doors, and the loops that send them: raw HTTP framing, hostile
JSON bodies for every HTTP route, and the Lambda's API-Gateway events.

Used by the tests (hundreds of cases in ``make test``) and ``benchmarks/serve_fuzz.py`` (thousands), through the
same senders (``send_raw_all``, ``send_routes``, ``run_event``). Each case is reproducible from (seed, index). What
must hold for every case: no 5xx, no unhandled exception, no traceback."""

from __future__ import annotations

import base64
import contextlib
import json
import random
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

ROUTES = ("/v1/judge", "/v1/nova", "/get_reward", "/health", "/metrics", "/nowhere", "/v1/judge?x=1", "*", "//")
_SAMPLE = {"samples": [{"id": "a", "prompt": "q", "response": "good"}]}
_NOVA = [{"id": "n", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}]}]


def _json_body(rng: random.Random) -> bytes:
    choice = rng.randrange(9)
    if choice == 0:
        return json.dumps(_SAMPLE).encode()
    if choice == 1:
        return json.dumps(_NOVA).encode()
    if choice == 2:
        return b"[" * rng.randrange(1, 50_000) + b"]" * rng.randrange(0, 3)  # deep nesting
    if choice == 3:
        return b'{"samples": [{"id": ' + b"9" * rng.randrange(4_000, 20_000) + b', "prompt": "q", "response": "x"}]}'
    if choice == 4:
        return b'{"samples": [{"id": "\\ud800", "prompt": "\\udfff", "response": "good \\ud83d"}]}'
    if choice == 5:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
    if choice == 6:
        return json.dumps({"query": ["q: good"], "prompts": ["q:"]}).encode()
    if choice == 7:
        return json.dumps({"samples": [{"id": "k" * rng.randrange(1, 5000), "prompt": 3}]}).encode()
    return b""


def _chunked(rng: random.Random, body: bytes) -> bytes:
    """The body in chunks, correct or broken in one of several ways."""
    pieces, rest = [], body
    while rest:
        cut = rng.randrange(1, max(2, len(rest) + 1))
        pieces.append(rest[:cut])
        rest = rest[cut:]
    fault = rng.randrange(8)
    out = b""
    for piece in pieces:
        size = b"%x" % len(piece)
        if fault == 1:
            size = b"zz"
        elif fault == 2:
            size = b"%x" % (len(piece) + rng.randrange(1, 10))
        elif fault == 3:
            size += b";ext=" + b"e" * rng.randrange(1, 100)
        elif fault == 4:
            size = b"-" + size
        out += size + b"\r\n" + piece + (b"\n" if fault == 5 else b"\r\n")
    if fault != 6:
        out += b"0\r\n\r\n"
    if fault == 7:
        out += b"garbage after the last chunk"
    return out


def framing_case(rng: random.Random) -> bytes:
    """One raw HTTP/1.1 request (or something like one) with random framing."""
    method = rng.choice([b"POST", b"POST", b"GET", b"PUT", b"HEAD", b"OPTIONS", b"P\x00ST", b"DELETE"])
    path = rng.choice(ROUTES).encode()
    version = rng.choice([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x", b""])
    body = _json_body(rng)
    headers = [b"Host: judge"]
    if rng.random() < 0.8:
        headers.append(b"Content-Type: application/json")
    framing = rng.randrange(8)
    payload = body
    if framing in (0, 1):
        headers.append(b"Content-Length: %d" % len(body))
    elif framing == 2:
        headers.append(b"Content-Length: %d" % max(0, len(body) + rng.randrange(-10, 10)))
    elif framing == 3:
        headers.append(b"Transfer-Encoding: chunked")
        payload = _chunked(rng, body)
    elif framing == 4:  # both: ambiguous framing
        headers += [b"Content-Length: %d" % rng.randrange(0, len(body) + 5), b"Transfer-Encoding: chunked"]
        payload = _chunked(rng, body)
    elif framing == 5:
        headers.append(rng.choice([b"Content-Length: -1", b"Content-Length: abc", b"Content-Length: 1, 2"]))
    elif framing == 6:
        headers.append(rng.choice([b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked, chunked"]))
    if rng.random() < 0.1:
        headers.append(b"X-Junk: " + bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 40))))
    if rng.random() < 0.05:
        headers.append(b"X-Long: " + b"a" * rng.randrange(10_000, 80_000))
    head = method + b" " + path + b" " + version + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n"
    return head + payload


def send_raw(host: str, port: int, data: bytes, timeout_s: float = 10.0) -> int | None:
    """Send the bytes and return the first response's status (None: closed, or no answer within timeout_s).

    The writing side stays open, as a real client's does (uvicorn takes a half-close for a client gone)."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        received = b""
        try:
            sock.sendall(data)
            while b"\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
    status_line = received.split(b"\r\n", 1)[0].split()
    if len(status_line) >= 2 and status_line[1].isdigit():
        return int(status_line[1])
    return None


def api_gateway_event(rng: random.Random) -> Any:
    """One event as a function URL or API Gateway would deliver it, with a random (often hostile) body."""
    body = _json_body(rng)
    kind = rng.randrange(6)
    if kind == 0:
        return {"body": body.decode("utf-8", "surrogateescape" if rng.random() < 0.5 else "replace")}
    if kind == 1:
        return {"body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    if kind == 2:
        return {"body": "%%not base64%%", "isBase64Encoded": True}
    if kind == 3:
        return {"body": body.decode("latin-1"), "isBase64Encoded": rng.choice([False, "true", None])}
    if kind == 4:
        return rng.choice([{}, [], {"body": None}, {"body": 3}, "text", 7, [{"messages": 3}], [None, 1]])
    return {"body": json.dumps(_NOVA)[: rng.randrange(0, 120)]}


def send_raw_all(url: str, cases: Sequence[bytes], parallel: int = 16) -> list[int | None]:
    """Each case sent on its own connection, ``parallel`` at a time (incomplete requests wait out the server's
    deadlines side by side); the statuses in case order."""
    host, port = url.removeprefix("http://").split(":")
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(lambda case: send_raw(host, int(port), case), cases))


EventOutcome = Literal["judged", "refused", "other"]


def run_event(event: Any) -> tuple[EventOutcome, str | None]:
    """One event through the Lambda handler: judged; refused with a one-line error (a judgerl error, or a batch
    failed for being mostly unscored, which AWS retries); or anything else, with what was raised."""
    from judgerl.errors import JudgerlError
    from judgerl.serve import lambda_handler
    from judgerl.serve.contract import UnscoredSamples

    try:
        results = lambda_handler.handler(event, lambda_handler.LocalContext())
    except (JudgerlError, UnscoredSamples) as exc:
        message = str(exc)
        if "\n" in message or len(message) >= 500:
            return "other", f"{type(exc).__name__} not in one line: {message[:120]!r}"
        return "refused", None
    except Exception as exc:  # what must never happen: reported, with what it was
        return "other", f"{type(exc).__name__}: {str(exc)[:120]}"
    if not isinstance(results, list):
        return "other", f"the handler returned {type(results).__name__}, not a list"
    return "judged", None


# ---- hostile JSON for every HTTP route ---------------------------------------------------------------------------

GRADERS_RUN = "/v1/fine_tuning/alpha/graders/run"
GRADERS_VALIDATE = "/v1/fine_tuning/alpha/graders/validate"
JSON_ROUTES = (
    ("POST", "/v1/judge"),
    ("POST", "/v1/nova"),
    ("POST", "/get_reward"),
    ("POST", GRADERS_RUN),
    ("POST", GRADERS_VALIDATE),
    ("GET", "/health"),
    ("GET", "/metrics"),
)
_STRING_CHECK = {"type": "string_check", "name": "s", "input": "{{ sample.output_text }}",
                 "reference": "{{ item.reference_answer }}", "operation": "eq"}  # fmt: skip
_VALID: dict[str, Any] = {
    "/v1/judge": {"samples": [{"id": "a", "prompt": "q", "response": "good"}]},
    "/v1/nova": _NOVA,
    "/get_reward": {"query": ["q: good"], "prompts": ["q:"], "labels": ["x"]},
    GRADERS_RUN: {"grader": _STRING_CHECK, "model_sample": "Paris", "item": {"reference_answer": "Paris"}},
    GRADERS_VALIDATE: {"grader": _STRING_CHECK},
}
_PAIRS = {"pairs": [{"id": "p", "prompt": "q", "response_a": "good", "response_b": "bad"}]}
_HOSTILE_TEXT = ["\ud800", "a\udfff", "good \ud83d", "NAN", "ERROR", "<|im_end|>", "</response>", "\u0000", "\x7f"]


def _hostile_value(rng: random.Random) -> str:
    """A JSON value (as text: lone surrogates and NaN are written as careless clients write them)."""
    choice = rng.randrange(12)
    if choice == 0:
        return json.dumps(rng.choice(_HOSTILE_TEXT))  # lone surrogates as JSON escapes
    if choice == 1:
        return '"good \ud800 raw"'  # a lone surrogate sent raw: invalid UTF-8 on the wire
    if choice == 2:
        return rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-0"])
    if choice == 3:
        return "9" * rng.randrange(1, 6000)
    if choice == 4:
        depth = rng.randrange(1, 3000)
        return "[" * depth + "1" + "]" * depth
    if choice == 5:
        return json.dumps("x" * rng.randrange(0, 20_000))
    if choice == 6:
        return rng.choice(["null", "true", "false", "{}", "[]", '""', "0", "-1", "3.5"])
    if choice == 7:
        return json.dumps([rng.choice(["good", "bad", None, 1]) for _ in range(rng.randrange(0, 40))])
    if choice == 8:
        return json.dumps({"text": None, "type": rng.choice(["text", "image", "input_audio", 3])})
    if choice == 9:
        return json.dumps("".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(0, 60))))
    if choice == 10:
        return json.dumps(rng.choice(["good", "bad", "UNSAFE", "fine", "q:"]))
    return json.dumps({"role": rng.choice(["user", "assistant", "system", "tool", 7]), "content": "good"})


def _mutated(rng: random.Random, value: Any) -> str:
    """``value`` as JSON text with one part replaced, dropped or added (or the whole of it replaced)."""
    if rng.random() < 0.08 or not isinstance(value, (dict, list)) or not value:
        return _hostile_value(rng)
    slots: list[tuple[Any, Any]] = []  # (container, key) of every place in the value

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in list(node):
                slots.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                slots.append((node, index))
                walk(node[index])

    value = json.loads(json.dumps(value))
    walk(value)
    marker = "__HOSTILE__"
    container, key = rng.choice(slots)
    action = rng.randrange(5)
    if action == 0 and isinstance(container, dict):
        del container[key]
    elif action == 1 and isinstance(container, dict):
        container["k" * rng.randrange(1, 300)] = marker
    elif action == 2 and isinstance(container, list):
        container.extend([container[key]] * rng.randrange(1, 40))
    else:
        container[key] = marker
    return json.dumps(value).replace(json.dumps(marker), _hostile_value(rng), 1)


def route_request(rng: random.Random) -> tuple[str, str, bytes]:
    """(method, path, body) for one route, the body a valid one with a hostile part (empty for GETs, mostly)."""
    method, path = rng.choice(JSON_ROUTES)
    if method == "GET":
        return method, path, b""
    base = _PAIRS if path == "/v1/judge" and rng.random() < 0.3 else _VALID[path]
    body = _mutated(rng, base)
    if rng.random() < 0.3:  # a second hostile part, where the first left JSON this side can still read
        with contextlib.suppress(ValueError, RecursionError):
            body = _mutated(rng, json.loads(body))
    return method, path, body.encode("utf-8", "surrogatepass")


def send_routes(
    url: str, requests: Sequence[tuple[str, str, bytes]], token: str | None = None, parallel: int = 8
) -> list[int]:
    """Each (method, path, body) sent as JSON with the bearer token, ``parallel`` at a time; the statuses in order.
    A transport failure counts as status 0 (the server closed or never answered)."""
    import httpx  # the serve extra

    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    limits = httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel)
    with httpx.Client(base_url=url, headers=headers, timeout=60, limits=limits) as client:

        def send(request: tuple[str, str, bytes]) -> int:
            method, path, body = request
            try:
                return client.request(method, path, content=body or None).status_code
            except httpx.HTTPError:
                return 0

        with ThreadPoolExecutor(parallel) as pool:
            return list(pool.map(send, requests))
