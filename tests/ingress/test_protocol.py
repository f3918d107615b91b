"""The HTTP layer under the app: head limits and deadlines, client aborts, low-level errors.

Raw sockets, because an HTTP client library would not send what these tests send.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from structlog.testing import capture_logs

from connectors.ingress.client import signed_headers
from connectors.ingress.server import IngressServer
from streams.metrics import REGISTRY
from streams.settings import Settings
from tests.ingress.conftest import ingress_settings
from tests.ingress.factories import intent_body

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]


async def _connect(server: IngressServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = urlsplit(server.url)
    assert url.hostname is not None and url.port is not None
    return await asyncio.open_connection(url.hostname, url.port)


async def _exchange(server: IngressServer, data: bytes, within_s: float = 10.0) -> bytes:
    """Send ``data``, read until the server closes (bounded)."""
    reader, writer = await _connect(server)
    try:
        answer = asyncio.create_task(asyncio.wait_for(reader.read(-1), within_s))
        for i in range(0, len(data), 64 * 1024):
            if answer.done():
                break
            try:
                writer.write(data[i : i + 64 * 1024])
                await writer.drain()
            except ConnectionError:  # the server stopped reading: its answer is what counts
                break
        return await answer
    finally:
        writer.close()


def _parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, orjson.loads(body) if body else None


def _requests(route: str, code: str) -> float:
    labels = {"route": route, "code": code}
    return REGISTRY.get_sample_value("tradepipe_ingress_requests_total", labels) or 0.0


async def test_too_many_headers_are_a_431_in_the_error_body(ingress: IngressServer) -> None:
    limit = ingress.runtime.settings.ingress.max_headers
    extra = b"".join(b"X-H%d: v\r\n" % i for i in range(limit + 1))

    raw = await _exchange(ingress, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")

    status, headers, body = _parse(raw)
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert body["error"]["code"] == "headers_too_large"


@pytest.mark.parametrize("size", [20 * 1024, 1024 * 1024])
async def test_oversized_header_is_a_431_before_it_is_all_read(
    ingress: IngressServer, size: int
) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"

    raw = await _exchange(ingress, head)

    status, _, body = _parse(raw)
    assert status == 431
    assert body["error"]["code"] == "headers_too_large"


async def test_headers_within_the_limits_are_served(ingress: IngressServer) -> None:
    extra = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(50))

    raw = await _exchange(
        ingress, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + b"\r\n"
    )

    assert _parse(raw)[0] == 200


async def test_head_sent_one_byte_at_a_time_is_cut_off_with_a_408(
    settings: Settings, start_ingress: Callable[..., Any]
) -> None:
    server = await start_ingress(ingress_settings(settings, header_timeout_s=1.0))
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 200 + b"\r\n\r\n"
    reader, writer = await _connect(server)
    began = time.monotonic()
    sent = 0
    answer = asyncio.create_task(asyncio.wait_for(reader.read(-1), 10))
    try:
        # One byte every 50 ms: the whole head would take 12 s; the deadline is 1 s.
        while sent < len(request) and not answer.done() and time.monotonic() - began < 8:
            try:
                writer.write(request[sent : sent + 1])
                await writer.drain()
            except ConnectionError:
                break
            sent += 1
            await asyncio.sleep(0.05)
        raw = await answer
    finally:
        writer.close()
    elapsed = time.monotonic() - began

    status, _, body = _parse(raw)
    assert status == 408
    assert body["error"]["code"] == "request_timeout"
    assert sent < len(request)
    assert elapsed < 6


async def test_idle_connection_without_a_request_is_closed_after_the_head_deadline(
    settings: Settings, start_ingress: Callable[..., Any]
) -> None:
    server = await start_ingress(ingress_settings(settings, header_timeout_s=1.0))
    reader, writer = await _connect(server)
    try:
        raw = await asyncio.wait_for(reader.read(-1), 6)
    finally:
        writer.close()

    assert _parse(raw)[0] == 408


async def test_keep_alive_connection_gets_a_fresh_head_deadline_per_request(
    settings: Settings, start_ingress: Callable[..., Any]
) -> None:
    server = await start_ingress(ingress_settings(settings, header_timeout_s=1.0))
    reader, writer = await _connect(server)
    try:
        codes = []
        for _ in range(2):
            await asyncio.sleep(0.6)  # 1.2 s in all: past one deadline, inside each
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(_headers_of(head)["content-length"])
            await reader.readexactly(length)
            codes.append(int(head.split()[1]))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Sl")  # then nothing
        raw = await asyncio.wait_for(reader.read(-1), 6)
    finally:
        writer.close()

    assert codes == [200, 200]
    assert _parse(raw)[0] == 408


def _headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").strip().split("\r\n")[1:]
    return dict(line.lower().split(": ", 1) for line in lines)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /v1/orders/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",  # raw non-ASCII target
        b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ],
)
async def test_request_that_is_not_http_gets_a_400_in_the_error_body(
    ingress: IngressServer, request_bytes: bytes
) -> None:
    raw = await _exchange(ingress, request_bytes)

    status, headers, body = _parse(raw)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert body["error"]["code"] == "malformed_request"


async def test_client_abort_mid_body_is_a_499_not_a_server_error(ingress: IngressServer) -> None:
    body = orjson.dumps(intent_body("abort"))
    signed = signed_headers("k", "s", method="POST", path="/v1/orders", body=body)
    head = (
        "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in signed.items())
        + "\r\n"
    ).encode()
    aborted, failed = _requests("orders_submit", "499"), _requests("orders_submit", "500")

    with capture_logs() as logs:
        _, writer = await _connect(ingress)
        writer.write(head + body[:20])
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        for _ in range(100):  # bounded: up to 10 s for the server to notice
            if _requests("orders_submit", "499") > aborted:
                break
            await asyncio.sleep(0.1)

    assert _requests("orders_submit", "499") == aborted + 1
    assert _requests("orders_submit", "500") == failed
    events = [entry["event"] for entry in logs]
    assert "ingress_client_disconnected" in events
    assert "ingress_unexpected_error" not in events


async def test_body_that_stops_arriving_is_a_408(
    settings: Settings, start_ingress: Callable[..., Any]
) -> None:
    server = await start_ingress(ingress_settings(settings, body_timeout_s=1.0))
    head = (
        b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )

    raw = await _exchange(server, head + b'{"intent_id":', within_s=8)

    status, _, body = _parse(raw)
    assert status == 408
    assert body["error"]["code"] == "request_timeout"


async def test_requests_over_the_concurrency_limit_get_a_503_in_the_error_body(
    settings: Settings, start_ingress: Callable[..., Any]
) -> None:
    server = await start_ingress(ingress_settings(settings, max_concurrency=1))
    _, idle = await _connect(server)  # holds the one allowed connection
    try:
        await asyncio.sleep(0.1)
        raw = await _exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        idle.close()

    status, headers, body = _parse(raw)
    assert status == 503
    assert headers["retry-after"] == "1"
    assert body["error"]["code"] == "overloaded"
