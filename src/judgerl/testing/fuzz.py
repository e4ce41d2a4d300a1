"""Seeded random inputs for the reward server's doors: raw HTTP framing and the Lambda's API-Gateway events.

Used by the tests (hundreds of cases in ``make test``) and ``benchmarks/serve_fuzz.py`` (thousands). Each case is
reproducible from (seed, index). What must hold for every case: no 5xx, no unhandled exception, no traceback."""

from __future__ import annotations

import base64
import json
import random
import socket
from typing import Any

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
