"""Authentication against a live ingress: tampering, replay, skew, rotation, scopes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from connectors.ingress.client import AsyncIngressClient, IngressError, signed_headers
from connectors.ingress.server import IngressServer
from connectors.ingress.store import IssuedSecret
from tests.ingress.factories import intent_body

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]


def _signed(key: IssuedSecret, body: bytes, **kw: Any) -> dict[str, str]:
    return signed_headers(key.key_id, key.secret, method="POST", path="/v1/orders", body=body, **kw)


async def _post(
    server: IngressServer,
    body: bytes,
    headers: dict[str, str],
    path: str = "/v1/orders",
    method: str = "POST",
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as http:
        headers = {"Content-Type": "application/json", **headers}
        return await http.request(method, path, content=body, headers=headers)


async def test_untampered_request_is_accepted(
    ingress: IngressServer, key: IssuedSecret, unique: str
) -> None:
    body = orjson.dumps(intent_body(unique))

    response = await _post(ingress, body, _signed(key, body))

    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "part", ["method", "path", "query", "timestamp", "nonce", "body", "key_id", "signature"]
)
async def test_tampering_with_any_signed_part_is_refused_with_401(
    ingress: IngressServer, key: IssuedSecret, unique: str, part: str
) -> None:
    body = orjson.dumps(intent_body(unique))
    headers = _signed(key, body)
    method, path = "POST", "/v1/orders"
    if part == "method":
        headers = signed_headers(key.key_id, key.secret, method="PUT", path=path, body=body)
    elif part == "path":
        path = "/v1/control/kill-switch"  # the key holds admin: only the signature can refuse
    elif part == "query":
        path = "/v1/orders?x=1"
    elif part == "timestamp":
        headers["X-TP-Timestamp"] = str(int(headers["X-TP-Timestamp"]) - 1)
    elif part == "nonce":
        nonce = headers["X-TP-Nonce"]
        headers["X-TP-Nonce"] = nonce[:-1] + ("A" if nonce[-1] != "A" else "B")
    elif part == "body":
        body = body.replace(b'"quantity":10', b'"quantity":11')
    elif part == "key_id":
        other = await ingress.runtime.store.create("other", scopes=["submit", "admin"])  # type: ignore[union-attr]
        headers["X-TP-Key-Id"] = other.key_id
    elif part == "signature":
        headers["X-TP-Signature"] = "0" * 64

    response = await _post(ingress, body, headers, path, method)

    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_signature"


async def test_missing_signature_headers_are_refused_with_401(
    ingress: IngressServer, unique: str
) -> None:
    response = await _post(ingress, orjson.dumps(intent_body(unique)), {})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_signature"


async def test_replayed_request_is_refused_with_401(
    ingress: IngressServer, key: IssuedSecret, unique: str
) -> None:
    body = orjson.dumps(intent_body(unique))
    headers = _signed(key, body)

    first = await _post(ingress, body, headers)
    replay = await _post(ingress, body, headers)

    assert first.status_code == 202
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "replayed_nonce"


# The signed timestamp is truncated to whole seconds while the server's clock is not, so a
# +301 s skew can read as up to 1 s less (inside the window); 302 stays outside the 300 s window.
@pytest.mark.parametrize("skew_s", [-301, 302, 3600])
async def test_timestamp_outside_the_window_is_refused_with_401(
    ingress: IngressServer, key: IssuedSecret, unique: str, skew_s: int
) -> None:
    body = orjson.dumps(intent_body(unique))

    response = await _post(ingress, body, _signed(key, body, timestamp=int(time.time()) + skew_s))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale_timestamp"


async def test_rotation_keeps_old_and_new_secrets_valid_until_the_old_is_revoked(
    ingress: IngressServer, key: IssuedSecret, unique: str
) -> None:
    store = ingress.runtime.store
    assert store is not None
    new = await store.rotate(key.key_id, grace_s=3600)
    old_client = AsyncIngressClient(ingress.url, key.key_id, key.secret)
    new_client = AsyncIngressClient(ingress.url, new.key_id, new.secret)

    assert (await old_client.submit(intent_body(unique)))["status"] == "accepted"
    assert (await new_client.submit(intent_body(unique)))["status"] == "accepted"

    await store.revoke(key.key_id, version=key.version)
    with pytest.raises(IngressError) as refused:
        await old_client.submit(intent_body(unique))
    assert refused.value.status == 401
    assert (await new_client.submit(intent_body(unique)))["status"] == "accepted"

    await store.revoke(key.key_id)
    with pytest.raises(IngressError) as revoked:
        await new_client.submit(intent_body(unique))
    assert revoked.value.status == 401
    await old_client.aclose()
    await new_client.aclose()


async def test_rotation_with_zero_grace_retires_the_old_secret_at_once(
    ingress: IngressServer, key: IssuedSecret, unique: str
) -> None:
    assert ingress.runtime.store is not None
    new = await ingress.runtime.store.rotate(key.key_id, grace_s=0)

    async with AsyncIngressClient(ingress.url, key.key_id, key.secret) as old_client:
        with pytest.raises(IngressError) as refused:
            await old_client.submit(intent_body(unique))
    async with AsyncIngressClient(ingress.url, new.key_id, new.secret) as new_client:
        accepted = await new_client.submit(intent_body(unique))

    assert refused.value.status == 401
    assert accepted["status"] == "accepted"


async def test_key_without_submit_scope_is_refused_with_403(
    ingress: IngressServer, issue: Callable[..., Any], unique: str
) -> None:
    reader = await issue(("read",))

    async with AsyncIngressClient(ingress.url, reader.key_id, reader.secret) as c:
        with pytest.raises(IngressError) as refused:
            await c.submit(intent_body(unique))

    assert refused.value.status == 403
    assert refused.value.code == "insufficient_scope"


async def test_key_limited_to_accounts_cannot_submit_for_another(
    ingress: IngressServer, issue: Callable[..., Any], unique: str
) -> None:
    limited = await issue(("submit",), accounts=[f"acct-{unique}"])

    async with AsyncIngressClient(ingress.url, limited.key_id, limited.secret) as c:
        ok = await c.submit(intent_body(unique))
        with pytest.raises(IngressError) as refused:
            await c.submit(intent_body(unique, account_id="someone-else"))

    assert ok["status"] == "accepted"
    assert refused.value.status == 403
    assert refused.value.code == "account_not_allowed"
