"""A loopback OpenAI-compatible chat-completions server for tests, benchmarks and fault drills.

It answers judge prompts deterministically (the probability of the first label is a hash of the request's
messages), after a fixed latency, and injects faults at a set rate: 429 with Retry-After, 500, 503, a hang
past the client's timeout, a dropped connection, truncated JSON, empty choices, garbage text and off-menu
labels. HTTP is written by hand on asyncio streams so a fault can cut a connection or a body anywhere.

Run in-process (``with StubChatServer(...) as server: server.base_url``) or as its own process::

    python -m judgerl.testing.stub_server --latency-s 0.05 --fault-rate 0.2     # prints READY <base_url>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import random
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

FaultKind = Literal[
    "rate_limit", "server_error", "unavailable", "timeout", "drop", "truncated", "empty_choices", "garbage", "off_menu"
]
ALL_FAULTS: tuple[str, ...] = get_args(FaultKind)
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
_REASONS |= {500: "Internal Server Error", 503: "Service Unavailable"}
_LABELS_ASKED = re.compile(r"one word: (\S+) or (\S+?)\.\s*$")
_CRITERIA_BLOCK = re.compile(r"## Criteria\n(.*?)\n\n", re.S)
_GARBAGE_WORDS = ("lorem", "ipsum", "banana", "zxq", "###", "<|im", "Sure", "Certainly", "\u00bf", "Hmm")


def default_p_first(messages: Sequence[dict[str, Any]]) -> float:
    """P(first label) for a request: a stable hash of its messages, in (0.02, 0.98)."""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
    return 0.02 + 0.96 * int.from_bytes(digest[:8], "big") / 2**64


def generated_verdict(user: str, criterion: str) -> bool:
    """The stub's generate-mode verdict: a hash of the judged material (the user message up to its criteria,
    so a repair prompt gets the same verdict as the prompt it repairs) and the criterion name."""
    material = user.split("## Criteria", 1)[0]
    return default_p_first([{"role": "user", "content": material}, {"role": "criterion", "content": criterion}]) >= 0.5


@dataclass
class FaultPlan:
    """Inject one of ``kinds`` into a ``rate`` share of chat requests, chosen by a seeded generator."""

    rate: float = 0.0
    kinds: tuple[str, ...] = ALL_FAULTS
    seed: int = 0
    retry_after_s: float = 0.1
    hang_s: float = 5.0

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(ALL_FAULTS)
        if unknown or not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault plan: rate must be in [0, 1] and kinds among {ALL_FAULTS}; got {unknown}")


@dataclass
class StubStats:
    requests: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0


class StubChatServer:
    """See the module docstring. ``logprobs=False`` imitates a server without log-probabilities;
    ``reject_max_tokens`` a reasoning model; ``reject_logprobs`` a model that refuses logprob requests;
    ``script`` lists the faults of the first chat requests in order (None: a normal answer)."""

    def __init__(
        self,
        *,
        models: Sequence[str] = ("stub-judge",),
        latency_s: float = 0.0,
        faults: FaultPlan | None = None,
        logprobs: bool = True,
        api_key: str | None = None,
        reject_max_tokens: bool = False,
        reject_logprobs: bool = False,
        p_first: Callable[[Sequence[dict[str, Any]]], float] = default_p_first,
        script: Sequence[str | None] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.models = list(models)
        self.latency_s = latency_s
        self.faults = faults or FaultPlan()
        self.logprobs = logprobs
        self.api_key = api_key
        self.reject_max_tokens = reject_max_tokens
        self.reject_logprobs = reject_logprobs
        self.p_first = p_first
        unknown = {kind for kind in script if kind is not None} - set(ALL_FAULTS)
        if unknown:
            raise ValueError(f"script: unknown faults {sorted(unknown)}; choose among {ALL_FAULTS}")
        self.script = deque(script)
        self.host, self.port = host, port
        self.stats = StubStats()
        self._rng = random.Random(self.faults.seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # ---- lifecycle --------------------------------------------------------------------------------------

    async def serve(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def shutdown(self) -> None:
        """Stop accepting, end hangs and cut open connections, then wait for the handlers to finish."""
        if self._server is not None:
            self._server.close()
        if self._stopping is not None:
            self._stopping.set()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    def start(self) -> StubChatServer:
        """Serve from a daemon thread with its own event loop."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.serve())
            ready.set()
            loop.run_forever()

        self._loop, self._thread = loop, threading.Thread(target=run, name="stub-chat-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> StubChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- HTTP -------------------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line.strip():
                    break
                method, path, _ = request_line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                if not await self._respond(method, path, headers, body, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:  # the loop is going away; end quietly rather than log a traceback
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            if not writer.is_closing():
                writer.close()

    @staticmethod
    def _write(writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Content-Type: application/json"]
        lines += [f"Content-Length: {len(body)}", "Connection: keep-alive"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    @staticmethod
    def _error(status: int, message: str, **extra: str) -> bytes:
        return json.dumps({"error": {"message": message, "type": "error", **extra}}).encode()

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must end."""
        self.stats.requests[path] += 1
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            given = headers.get("authorization", "").removeprefix("Bearer ")
            message = f"Incorrect API key provided: {given or '(none)'}."
            self._write(writer, 401, self._error(401, message, code="invalid_api_key"))
            return True
        if method == "GET" and path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "owned_by": "stub"} for m in self.models]
            self._write(writer, 200, json.dumps({"object": "list", "data": data}).encode())
            return True
        if method == "GET" and path == "/stub/stats":
            stats = {"requests": self.stats.requests, "faults": self.stats.faults}
            self._write(writer, 200, json.dumps({**stats, "max_in_flight": self.stats.max_in_flight}).encode())
            return True
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            self._write(writer, 404, self._error(404, f"no route {method} {path}"))
            return True
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            return await self._chat(json.loads(body), writer)
        finally:
            self.stats.in_flight -= 1

    async def _chat(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        if request.get("model") not in self.models:
            message = f"The model `{request.get('model')}` does not exist or you do not have access to it."
            self._write(writer, 404, self._error(404, message, code="model_not_found"))
            return True
        if self.reject_max_tokens and "max_tokens" in request:
            message = (
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead."
            )
            self._write(writer, 400, self._error(400, message, param="max_tokens"))
            return True
        if self.reject_logprobs and request.get("logprobs"):
            self._write(writer, 400, self._error(400, "This model does not support logprobs.", param="logprobs"))
            return True
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.script:  # scripted faults first (None = answer normally), then the random plan
            fault = self.script.popleft()
        else:
            fault = self._rng.choice(self.faults.kinds) if self._rng.random() < self.faults.rate else None
        if fault is not None:
            self.stats.faults[fault] += 1
        retry_after = {"Retry-After": f"{self.faults.retry_after_s:g}"}
        if fault == "rate_limit":
            self._write(writer, 429, self._error(429, "Rate limit reached"), retry_after)
            return True
        if fault == "server_error":
            self._write(writer, 500, self._error(500, "internal error"))
            return True
        if fault == "unavailable":
            self._write(writer, 503, self._error(503, "Loading model"), retry_after)
            return True
        if fault == "drop":
            writer.transport.abort()
            return False
        if fault == "timeout":
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.faults.hang_s)
            if self._stopping.is_set():
                return False
        reply = self._reply(request, garbage=fault == "garbage", off_menu=fault == "off_menu")
        if fault == "empty_choices":
            reply["choices"] = []
        data = json.dumps(reply).encode()
        if fault == "truncated":
            data = data[: len(data) // 2]
        self._write(writer, 200, data)
        await writer.drain()
        return True

    # ---- answers ----------------------------------------------------------------------------------------

    def _reply(self, request: dict[str, Any], *, garbage: bool, off_menu: bool) -> dict[str, Any]:
        messages = request.get("messages", [])
        user = str(messages[-1].get("content", "")) if messages else ""
        max_tokens = int(request.get("max_completion_tokens") or request.get("max_tokens") or 256)
        asked = _LABELS_ASKED.search(user)
        logprobs = None
        if asked and max_tokens <= 2:
            first, second = asked.group(1), asked.group(2)
            p = self.p_first(messages)
            top = [(first, 0.97 * p), (second, 0.97 * (1 - p)), ("The", 0.02), ("**", 0.01)]
            if garbage:
                words = self._rng.sample(_GARBAGE_WORDS, 4)
                top = [(w, q) for w, q in zip(words, (0.6, 0.3, 0.06, 0.04), strict=True)]
            elif off_menu:
                top = [("MAYBE", 0.7), ("UNSURE", 0.2), ("N/A", 0.06), ("Perhaps", 0.04)]
            top.sort(key=lambda item: -item[1])
            content = top[0][0]
            if self.logprobs and request.get("logprobs"):
                entries = [{"token": t, "logprob": math.log(q), "bytes": list(t.encode())} for t, q in top]
                logprobs = {"content": [{**entries[0], "top_logprobs": entries[: request.get("top_logprobs", 5)]}]}
        elif "Reply with JSON only" in user:
            content = self._json_verdicts(user, garbage=garbage, off_menu=off_menu)
        elif garbage:
            content = " ".join(self._rng.choices(_GARBAGE_WORDS, k=12))
        else:
            content = "OK" if max_tokens <= 2 else "The response meets the criterion, as its final line shows."
        completion_tokens = max(1, len(content) // 4)
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "model": request.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": logprobs,
                    "finish_reason": "length" if completion_tokens >= max_tokens else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": sum(len(str(m.get("content", ""))) for m in messages) // 4 + 1,
                "completion_tokens": completion_tokens,
                "total_tokens": 0,
            },
        }

    def _json_verdicts(self, user: str, *, garbage: bool, off_menu: bool) -> str:
        if garbage:
            return "I think " + " ".join(self._rng.choices(_GARBAGE_WORDS, k=8)) + ' {"criteria": ['
        block = _CRITERIA_BLOCK.search(user)
        names = [line[2:].split(":", 1)[0] for line in (block.group(1) if block else "").splitlines() if line]
        entries = []
        for name in names:
            verdict = "MAYBE" if off_menu else ("PASS" if generated_verdict(user, name) else "FAIL")
            entries.append({"name": name, "reason": f"stub reason for {name}", "verdict": verdict})
        return json.dumps({"criteria": entries})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback OpenAI-compatible stub judge server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-s", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-kinds", default=",".join(ALL_FAULTS))
    parser.add_argument("--retry-after-s", type=float, default=0.1)
    parser.add_argument("--hang-s", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", action="append", default=None)
    args = parser.parse_args(argv)
    server = StubChatServer(
        models=args.model or ["stub-judge"],
        latency_s=args.latency_s,
        faults=FaultPlan(
            rate=args.fault_rate,
            kinds=tuple(k for k in args.fault_kinds.split(",") if k),
            seed=args.seed,
            retry_after_s=args.retry_after_s,
            hang_s=args.hang_s,
        ),
        host=args.host,
        port=args.port,
    )

    async def run() -> None:
        await server.serve()
        print(f"READY {server.base_url}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
