"""uvicorn's httptools protocol with limits on the request head and shaped low-level errors.

uvicorn bounds neither the size nor the number of request headers under httptools, and has
no deadline for receiving them: a client could send a megabyte of headers, ten thousand of
them, or one byte a second for ever. This subclass adds, per request head (request line
and headers): a byte limit (431), a header count limit (431), a deadline from the first
byte of the request, or from the connection's opening, to the end of the head (408), and a
concurrency limit answered 503. Every answer it writes itself, and uvicorn's own 400 for
bytes that are not HTTP, carry the ingress's one error body.

It relies on uvicorn's ``HttpToolsProtocol`` callbacks (``on_message_begin``, ``on_url``,
``on_header``, ``on_headers_complete``, ``data_received``); the pinned uvicorn range in
pyproject.toml and ``tests/ingress/test_protocol.py`` guard that.
"""

from __future__ import annotations

import asyncio
import http
from dataclasses import dataclass
from typing import Any

import httptools
import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from connectors.ingress.errors import error_body

__all__ = ["HeadLimits", "guarded_protocol", "raw_error_response"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """Bounds on one request head, and on the requests in flight per process."""

    max_bytes: int
    max_headers: int
    timeout_s: float
    max_concurrency: int | None


_LINGER_S = 2.0


class _HeadTooLarge(Exception):
    pass


def raw_error_response(status: int, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response with the error body, closing the connection."""
    body = error_body(code, message)
    phrase = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _busy(scope: Any, receive: Any, send: Any) -> None:
    body = error_body("overloaded", "too many requests in flight; retry shortly")
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _GuardedProtocol(HttpToolsProtocol):
    limits: HeadLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._began_in_feed = False
        self._head_bytes = 0
        self._head_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._max_bytes = self.limits.max_bytes
        self._max_headers = self.limits.max_headers

    # --- the head's deadline ------------------------------------------------------------
    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._refused or self.transport.is_closing() or not self._in_head:
            return
        log.info("ingress_request_head_timeout", client=self._peer())
        self._refuse(408, "request_timeout", "the request head did not arrive in time")

    def _peer(self) -> str | None:
        return self.client[0] if self.client else None

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._refused = True
        self._disarm()
        # Only between responses: a response in progress must not be interleaved.
        if not (self.cycle is None or self.cycle.response_complete):
            self.transport.close()
            return
        self.transport.write(raw_error_response(status, code, message))
        # A lingering close: closing with the client's bytes unread would send a reset,
        # which can destroy the answer before the client reads it. So half-close, read
        # and discard for a moment, then close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(_LINGER_S, self.transport.close)
        else:
            self.transport.close()

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; count head bytes that httptools buffers before any callback."""
        self._unset_keepalive_if_required()
        if self._refused or self.transport.is_closing():
            return
        self._began_in_feed = False
        in_head = self._in_head
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # As uvicorn does: the request is served over HTTP/1.1 and the upgrade ignored
            # (no WebSocket routes; ``curl --http2`` on http:// asks for h2c this way).
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                log.info("ingress_request_head_too_large", client=self._peer())
                self._refuse(431, "headers_too_large", str(exc.__context__))
            else:
                log.info("ingress_malformed_request", client=self._peer())
                self._refuse(400, "malformed_request", "the request is not valid HTTP/1.1")
            return
        # A chunk that began and ended inside one head was all head: httptools holds it
        # (an unfinished header) without telling us, so it is counted here.
        if in_head and self._in_head and not self._began_in_feed:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_bytes:
                self._refuse(431, "headers_too_large", self._too_large_message())

    # --- parser callbacks ---------------------------------------------------------------
    def _too_large_message(self) -> str:
        limits = self.limits
        return (
            f"the request head is limited to {limits.max_bytes} bytes"
            f" and {limits.max_headers} headers"
        )

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_bytes or self._head_count > self.limits.max_headers:
            raise _HeadTooLarge(self._too_large_message())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._began_in_feed = True
        self._head_bytes = 0
        self._head_count = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Called for every header of every request: kept to two additions and a compare.
        self._head_count += 1
        self._head_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._head_bytes > self._max_bytes or self._head_count > self._max_headers:
            raise _HeadTooLarge(self._too_large_message())
        HttpToolsProtocol.on_header(self, name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        limit = self.limits.max_concurrency
        if limit is not None and (len(self.connections) > limit or len(self.tasks) >= limit):
            log.warning("ingress_overloaded", connections=len(self.connections), limit=limit)
            app, self.app = self.app, _busy
            try:
                super().on_headers_complete()
            finally:
                self.app = app
            return
        super().on_headers_complete()


def guarded_protocol(limits: HeadLimits) -> type[HttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` enforcing ``limits``."""
    return type("GuardedHttpToolsProtocol", (_GuardedProtocol,), {"limits": limits})
