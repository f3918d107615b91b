"""Rate limits under concurrent load, request size limits and idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from connectors.ingress.client import signed_headers
from connectors.ingress.server import IngressServer
from connectors.ingress.store import IssuedSecret
from schemas.codec import AvroCodec
from schemas.records import OrderIntent
from schemas.registry import FileRegistry
from streams.settings import Settings
from streams.topics import INTENTS
from tests.ingress.factories import intent_body
from tests.ingress.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]


async def _post(
    http: httpx.AsyncClient, key: IssuedSecret, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    signed = signed_headers(key.key_id, key.secret, method="POST", path="/v1/orders", body=body)
    headers = {**signed, "Content-Type": "application/json", **(headers or {})}
    return await http.post("/v1/orders", content=body, headers=headers)


async def test_concurrent_burst_accepts_exactly_the_key_limit_and_refuses_the_rest_with_429(
    ingress: IngressServer, issue: Callable[..., Any], unique: str
) -> None:
    limit = 7
    key = await issue(("submit",), rate_per_s=0.01, burst=limit)  # no refill during the test
    bodies = [orjson.dumps(intent_body(unique)) for _ in range(40)]

    async with httpx.AsyncClient(
        base_url=ingress.url, limits=httpx.Limits(max_connections=20)
    ) as http:
        responses = await asyncio.gather(*(_post(http, key, b) for b in bodies))

    codes = [r.status_code for r in responses]
    assert codes.count(202) == limit
    assert codes.count(429) == len(bodies) - limit
    refused = [r for r in responses if r.status_code == 429]
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert all(r.json()["error"]["code"] == "rate_limited" for r in refused)


async def test_account_limit_applies_across_keys(
    settings: Settings, start_ingress: Callable[..., Any], issue: Callable[..., Any], unique: str
) -> None:
    from tests.ingress.conftest import ingress_settings

    server = await start_ingress(
        ingress_settings(settings, account_rate_per_s=0.01, account_burst=3)
    )
    store = server.runtime.store
    keys = [await store.create("k", scopes=["submit"]) for _ in range(2)]

    async with httpx.AsyncClient(base_url=server.url) as http:
        codes = [
            (await _post(http, keys[i % 2], orjson.dumps(intent_body(unique)))).status_code
            for i in range(6)
        ]

    assert codes == [202, 202, 202, 429, 429, 429]


async def test_body_over_the_size_limit_is_refused_with_413(
    ingress: IngressServer, key: IssuedSecret
) -> None:
    body = b'{"pad":"' + b"x" * (ingress.runtime.settings.ingress.max_body_bytes + 1) + b'"}'

    async with httpx.AsyncClient(base_url=ingress.url) as http:
        response = await _post(http, key, body)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_same_idempotency_key_and_body_replays_the_first_response_and_writes_once(
    ingress: IngressServer, key: IssuedSecret, settings: Settings, unique: str
) -> None:
    intent = intent_body(unique)
    body = orjson.dumps(intent)

    async with httpx.AsyncClient(base_url=ingress.url) as http:
        first = await _post(http, key, body, {"Idempotency-Key": f"idem-{unique}"})
        second = await _post(http, key, body, {"Idempotency-Key": f"idem-{unique}"})

    assert first.status_code == second.status_code == 202
    assert second.content == first.content
    assert second.headers.get("idempotent-replayed") == "true"
    records = await read_topic(settings, INTENTS, lambda rs: False, within_s=3)
    codec = AvroCodec(FileRegistry())
    mine = [
        r
        for r in records
        if r.key == intent["account_id"].encode()
        and codec.decode(r.value, OrderIntent).intent_id == intent["intent_id"]
    ]
    assert len(mine) == 1


async def test_same_idempotency_key_with_another_body_is_refused_with_409(
    ingress: IngressServer, key: IssuedSecret, unique: str
) -> None:
    async with httpx.AsyncClient(base_url=ingress.url) as http:
        first = await _post(
            http, key, orjson.dumps(intent_body(unique)), {"Idempotency-Key": unique}
        )
        other = await _post(
            http, key, orjson.dumps(intent_body(unique)), {"Idempotency-Key": unique}
        )

    assert first.status_code == 202
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_idempotent_validation_error_is_replayed_too(
    ingress: IngressServer, key: IssuedSecret, unique: str
) -> None:
    body = orjson.dumps(intent_body(unique, quantity=0))

    async with httpx.AsyncClient(base_url=ingress.url) as http:
        first = await _post(http, key, body, {"Idempotency-Key": unique})
        second = await _post(http, key, body, {"Idempotency-Key": unique})

    assert first.status_code == second.status_code == 422
    assert first.content == second.content
