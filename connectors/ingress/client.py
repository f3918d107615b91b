"""A Python client for the ingress that signs every request (httpx, sync and async).

with IngressClient("http://127.0.0.1:8080", key_id, secret) as client:
    client.submit({"intent_id": ..., "account_id": ..., ...})
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import httpx
import orjson

from connectors.ingress import signing
from streams.errors import InvalidInput, TradepipeError

__all__ = ["AsyncIngressClient", "HmacAuth", "IngressClient", "IngressError", "signed_headers"]


class IngressError(TradepipeError):
    """A non-2xx answer from the ingress, with its error body."""

    def __init__(self, status: int, body: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        error = body.get("error", {}) if isinstance(body, Mapping) else {}
        super().__init__(f"{status} {error.get('code', '?')}: {error.get('message', '')}")
        self.status = status
        self.code = str(error.get("code", "error"))
        self.details = list(error.get("details", []))
        self.retry_after = headers.get("retry-after")
        self.retriable = status in (429, 503)


def signed_headers(
    key_id: str,
    secret: str,
    *,
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four signature headers for a request.

    ``path`` and ``query`` as they go on the wire (escapes intact); the signature covers
    their canonical forms (docs/ingress.md, "Signing").
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    signature = signing.sign(
        secret, method=method, path=path, query=query, timestamp=ts, nonce=nonce, body=body
    )
    return {
        "X-TP-Key-Id": key_id,
        "X-TP-Timestamp": ts,
        "X-TP-Nonce": nonce,
        "X-TP-Signature": signature,
    }


class HmacAuth(httpx.Auth):
    """httpx auth that signs the final request (method, path, query, body)."""

    requires_request_body = True

    def __init__(self, key_id: str, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.key_id = key_id
        self._secret = secret
        self.clock = clock

    def __repr__(self) -> str:
        return f"HmacAuth(key_id={self.key_id!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the signature headers."""
        request.headers.update(
            signed_headers(
                self.key_id,
                self._secret,
                method=request.method,
                # The path as it goes on the wire; the signature covers its canonical form.
                path=request.url.raw_path.split(b"?", 1)[0].decode("ascii"),
                query=request.url.query.decode("ascii"),
                body=request.content,
                timestamp=int(self.clock()),
            )
        )
        yield request


def _orders_body(orders: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> bytes:
    if isinstance(orders, Mapping):
        return orjson.dumps(orders, default=str)
    if not orders:
        raise InvalidInput("no orders to submit")
    return orjson.dumps({"orders": list(orders)}, default=str)


def _result(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {"error": {"code": "not_json", "message": response.text[:200]}}
    if response.status_code >= 300:
        raise IngressError(response.status_code, body, response.headers)
    result: dict[str, Any] = body
    return result


def _headers(idempotency_key: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if idempotency_key:
        headers["idempotency-key"] = idempotency_key
    return headers


class IngressClient:
    """Synchronous client: ``submit``, ``get_order``, ``kill_switch``."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url, auth=HmacAuth(key_id, secret), timeout=timeout, transport=transport
        )

    def submit(
        self,
        orders: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Submit one intent (a mapping) or a batch (a sequence); the 202 body."""
        return _result(
            self.http.post(
                "/v1/orders", content=_orders_body(orders), headers=_headers(idempotency_key)
            )
        )

    def get_order(self, intent_id: str) -> dict[str, Any]:
        """The order's state and history."""
        return _result(self.http.get(f"/v1/orders/{intent_id}"))

    def kill_switch(self, account_id: str, state: str = "HALTED", *, reason: str) -> dict[str, Any]:
        """Set the trading state of an account (or ``*``)."""
        body = orjson.dumps({"account_id": account_id, "state": state, "reason": reason})
        return _result(
            self.http.post("/v1/control/kill-switch", content=body, headers=_headers(None))
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> IngressClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncIngressClient:
    """Asynchronous twin of ``IngressClient``."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url, auth=HmacAuth(key_id, secret), timeout=timeout, transport=transport
        )

    async def submit(
        self,
        orders: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Submit one intent (a mapping) or a batch (a sequence); the 202 body."""
        return _result(
            await self.http.post(
                "/v1/orders", content=_orders_body(orders), headers=_headers(idempotency_key)
            )
        )

    async def get_order(self, intent_id: str) -> dict[str, Any]:
        """The order's state and history."""
        return _result(await self.http.get(f"/v1/orders/{intent_id}"))

    async def kill_switch(
        self, account_id: str, state: str = "HALTED", *, reason: str
    ) -> dict[str, Any]:
        """Set the trading state of an account (or ``*``)."""
        body = orjson.dumps({"account_id": account_id, "state": state, "reason": reason})
        return _result(
            await self.http.post("/v1/control/kill-switch", content=body, headers=_headers(None))
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def __aenter__(self) -> AsyncIngressClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
