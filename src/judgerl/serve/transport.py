"""The reward server's connection limits, below the ASGI app: uvicorn settings and an h11 protocol with a header
deadline.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 past ``limit_concurrency``, but
it waits forever for a request's headers: a client that trickles them (or opens a socket and sends nothing) holds
a file descriptor for good. ``GuardedH11Protocol`` closes a connection whose request headers are not complete
``header_timeout_s`` after its first byte, and a connection that sends nothing at all after ``SILENT_TIMEOUT_S``
(at most). Silent connections may hold at most a quarter of ``max_connections``: past that the oldest silent one
is closed, so sockets opened and left silent cannot keep real clients at 503. Accept errors (out of file
descriptors) are logged at most once per ``ACCEPT_LOG_EVERY_S``, with a count of those not logged. Body read
deadlines, early auth and client disconnects are handled in the ASGI middleware (:mod:`judgerl.serve.server`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: largest request head (request line and headers) h11 buffers before answering 400
MAX_HEADER_BYTES = 64 * 1024
#: a connection that has sent no byte at all is closed after this long (or header_timeout_s, when shorter)
SILENT_TIMEOUT_S = 2.0
#: a silent connection younger than this is never evicted for a newcomer (a real client speaks within milliseconds)
MIN_SILENT_AGE_S = 0.25
ACCEPT_LOG_EVERY_S = 10.0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on request headers. Subclass per server (``guarded_protocol``)."""

    header_timeout_s: float = 10.0
    max_silent: int = 128
    silent: ClassVar[OrderedDict[int, GuardedH11Protocol]] = OrderedDict()  # connections with no byte yet

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._opened = time.monotonic()
        self.silent[id(self)] = self
        while len(self.silent) > self.max_silent:  # evict the oldest silent socket, never the newcomer
            oldest = next(iter(self.silent.values()))
            if self._opened - oldest._opened < MIN_SILENT_AGE_S:
                break  # a client that just connected has not had time to speak
            del self.silent[id(oldest)]
            oldest.logger.info("closing the oldest of %d silent connections", self.max_silent + 1)
            oldest.transport.close()
        self._arm_header_timer(min(SILENT_TIMEOUT_S, self.header_timeout_s))

    def data_received(self, data: bytes) -> None:
        if self.silent.pop(id(self), None) is not None:
            self._disarm_header_timer()  # it spoke: the full header deadline from its first byte
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is not h11.IDLE:  # a pipelined request was already read
            self._disarm_header_timer()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's 400 for a malformed request, unless a response has already begun (a bad chunk arriving after
        the app answered): h11 cannot send a second one, so the connection is closed, without a traceback."""
        try:
            super().send_400_response(msg)
        except h11.LocalProtocolError:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.silent.pop(id(self), None)
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self, timeout_s: float | None = None) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(timeout_s or self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("closing a connection whose request headers took over %gs", self.header_timeout_s)
            self.transport.close()


def guarded_protocol(header_timeout_s: float, max_connections: int = 512) -> type[GuardedH11Protocol]:
    attributes = {
        "header_timeout_s": header_timeout_s,
        "max_silent": max(1, max_connections // 4),
        "silent": OrderedDict(),
    }
    return type("GuardedH11Protocol", (GuardedH11Protocol,), attributes)


class AcceptErrorLimiter(logging.Filter):
    """Lets one "socket.accept() out of system resource" record through per ``every_s``; counts the rest.

    At the file-descriptor limit asyncio retries accept() every 0.1 s per listening socket and logs each failure
    with a traceback: 1,500 silent sockets made 37.5 MB of log in 10 s."""

    def __init__(self, every_s: float = ACCEPT_LOG_EVERY_S) -> None:
        super().__init__()
        self.every_s = every_s
        self.suppressed = 0
        self._last = -float("inf")

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("socket.accept() out of system resource"):
            return True
        now = time.monotonic()
        if now - self._last < self.every_s:
            self.suppressed += 1
            return False
        self._last = now
        if self.suppressed:
            record.msg = f"{record.msg} ({self.suppressed} more since the last such record, not logged)"
            self.suppressed = 0
        record.exc_info = None  # one line: the traceback says nothing new
        return True


def limit_accept_error_logs() -> None:
    """Install the limiter on asyncio's logger once per process."""
    asyncio_logger = logging.getLogger("asyncio")
    if not any(isinstance(f, AcceptErrorLimiter) for f in asyncio_logger.filters):
        asyncio_logger.addFilter(AcceptErrorLimiter())


def uvicorn_options(
    *, keep_alive_s: float, header_timeout_s: float, max_connections: int, graceful_shutdown_s: int | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` / ``uvicorn.run`` shared by ``judgerl serve`` and BackgroundServer."""
    limit_accept_error_logs()
    return {
        "http": guarded_protocol(header_timeout_s, max_connections),
        "timeout_keep_alive": max(1, int(keep_alive_s)),
        "limit_concurrency": max_connections,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_graceful_shutdown": graceful_shutdown_s,
    }
