"""The reward server's connection limits, below the ASGI app: uvicorn settings and an h11 protocol with a header
deadline.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 past ``limit_concurrency``, but
it waits forever for a request's headers: a client that trickles them (or opens a socket and sends nothing) holds
a file descriptor for good. ``GuardedH11Protocol`` closes a connection whose request headers are not complete
``header_timeout_s`` after its first byte (or after the connection opened). Body read deadlines, early auth and
client disconnects are handled in the ASGI middleware (:mod:`judgerl.serve.server`)."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: largest request head (request line and headers) h11 buffers before answering 400
MAX_HEADER_BYTES = 64 * 1024


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on request headers. Subclass per server (``guarded_protocol``)."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is not h11.IDLE:  # a pipelined request was already read
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("closing a connection whose request headers took over %gs", self.header_timeout_s)
            self.transport.close()


def guarded_protocol(header_timeout_s: float) -> type[GuardedH11Protocol]:
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout_s": header_timeout_s})


def uvicorn_options(
    *, keep_alive_s: float, header_timeout_s: float, max_connections: int, graceful_shutdown_s: int | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` / ``uvicorn.run`` shared by ``judgerl serve`` and BackgroundServer."""
    return {
        "http": guarded_protocol(header_timeout_s),
        "timeout_keep_alive": max(1, int(keep_alive_s)),
        "limit_concurrency": max_connections,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_graceful_shutdown": graceful_shutdown_s,
    }
