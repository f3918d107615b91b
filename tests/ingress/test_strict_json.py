"""Strict bodies: one media type, no duplicate keys, the batch limit answered as documented."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from connectors.ingress.client import signed_headers
from connectors.ingress.server import IngressServer
from connectors.ingress.store import IssuedSecret
from streams.settings import Settings
from tests.ingress.conftest import ingress_settings
from tests.ingress.factories import intent_body

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]


async def _post(
    server: IngressServer, key: IssuedSecret, body: bytes, content_type: str | None
) -> httpx.Response:
    headers = signed_headers(key.key_id, key.secret, method="POST", path="/v1/orders", body=body)
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.post("/v1/orders", content=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"intent_id":"a","quantity":1,"quantity":5}', ["body", "quantity"]),
        (
            b'{"orders":[{"side":"BUY"},{"side":"BUY","side":"SELL"}]}',
            ["body", "orders", 1, "side"],
        ),
        (b'{"orders":[],"orders":[]}', ["body", "orders"]),
    ],
)
async def test_duplicate_json_key_is_a_400_naming_the_key(
    ingress: IngressServer, key: IssuedSecret, body: bytes, loc: list[Any]
) -> None:
    response = await _post(ingress, key, body, "application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_json"
    assert error["details"] == [
        {"loc": loc, "type": "json_duplicate_key", "msg": f"{loc[-1]!r} appears twice"}
    ]


async def test_valid_intent_with_a_repeated_key_is_not_published_under_either_value(
    ingress: IngressServer, key: IssuedSecret, unique: str
) -> None:
    text = orjson.dumps(intent_body(unique, quantity=1)).decode()
    body = (text[:-1] + ',"quantity":5}').encode()

    response = await _post(ingress, key, body, "application/json")

    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["loc"] == ["body", "quantity"]


async def test_deeply_nested_body_is_a_400_not_a_500(
    ingress: IngressServer, key: IssuedSecret
) -> None:
    response = await _post(ingress, key, b"[" * 1000 + b"]" * 1000, "application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/jsonx",
        "multipart/form-data; boundary=x",
    ],
)
async def test_body_not_declared_as_json_is_a_415(
    ingress: IngressServer, key: IssuedSecret, unique: str, content_type: str | None
) -> None:
    response = await _post(ingress, key, orjson.dumps(intent_body(unique)), content_type)

    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert error["details"][0]["loc"] == ["header", "content-type"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "Application/JSON", 'application/json; charset="UTF-8"']
)
async def test_json_media_type_is_accepted_in_any_case_with_a_utf8_charset(
    ingress: IngressServer, key: IssuedSecret, unique: str, content_type: str
) -> None:
    response = await _post(ingress, key, orjson.dumps(intent_body(unique)), content_type)

    assert response.status_code == 202, response.text


async def test_batch_over_the_default_max_batch_is_a_413_batch_too_large(
    ingress: IngressServer, key: IssuedSecret, unique: str
) -> None:
    limit = ingress.runtime.settings.ingress.max_batch
    orders = [intent_body(unique, account_id=f"a{i % 10}-{unique}") for i in range(limit + 1)]

    response = await _post(ingress, key, orjson.dumps({"orders": orders}), "application/json")

    assert response.status_code == 413, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "batch_too_large"
    assert error["details"][0]["loc"] == ["body", "orders"]


async def test_configured_max_batch_is_the_limit_both_ways(
    settings: Settings, start_ingress: Callable[..., Any], unique: str
) -> None:
    server = await start_ingress(ingress_settings(settings, max_batch=3))
    key = await server.runtime.store.create("b", scopes=["submit"])

    def batch(n: int) -> bytes:
        return orjson.dumps({"orders": [intent_body(unique) for _ in range(n)]})

    at_limit = await _post(server, key, batch(3), "application/json")
    over = await _post(server, key, batch(4), "application/json")

    assert at_limit.status_code == 202, at_limit.text
    assert over.status_code == 413
    assert over.json()["error"]["code"] == "batch_too_large"
