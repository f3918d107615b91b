"""Bad input gets a machine-readable 4xx; a missing dependency a 503; never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from connectors.ingress.client import AsyncIngressClient, IngressError, signed_headers
from connectors.ingress.server import IngressServer
from connectors.ingress.store import IssuedSecret
from streams.embedded import free_port
from streams.settings import KafkaSettings, RedisSettings, Settings
from streams.topics import INTENTS
from tests.ingress.conftest import ingress_settings
from tests.ingress.factories import intent_body
from tests.ingress.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]


async def _raw(server: IngressServer, key: IssuedSecret, body: bytes) -> httpx.Response:
    headers = signed_headers(key.key_id, key.secret, method="POST", path="/v1/orders", body=body)
    headers["Content-Type"] = "application/json"
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.post("/v1/orders", content=body, headers=headers)


async def test_malformed_json_is_a_400_with_details(
    ingress: IngressServer, key: IssuedSecret
) -> None:
    response = await _raw(ingress, key, b'{"intent_id": ')

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_json"
    assert error["details"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    ("change", "loc", "kind"),
    [
        ({"colour": "red"}, ["body", "colour"], "extra_forbidden"),
        ({"quantity": "10"}, ["body", "quantity"], "int_type"),
        ({"quantity": 0}, ["body", "quantity"], "greater_than_equal"),
        ({"side": "HOLD"}, ["body", "side"], "enum"),
        ({"price": "12.34567"}, ["body", "price"], "decimal_max_places"),
        ({"price": "NaN"}, ["body", "price"], "finite_number"),
        ({"account_id": ""}, ["body", "account_id"], "string_too_short"),
        ({"account_id": "a b"}, ["body", "account_id"], "string_pattern_mismatch"),
    ],
)
async def test_invalid_field_is_a_422_naming_the_field(
    ingress: IngressServer,
    key: IssuedSecret,
    unique: str,
    change: dict[str, Any],
    loc: list[str],
    kind: str,
) -> None:
    response = await _raw(ingress, key, orjson.dumps(intent_body(unique, **change)))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert any(d["loc"] == loc and d["type"] == kind for d in error["details"]), error["details"]


async def test_limit_order_without_price_is_a_422(
    ingress: IngressServer, key: IssuedSecret, unique: str
) -> None:
    body = intent_body(unique)
    del body["price"]

    response = await _raw(ingress, key, orjson.dumps(body))

    assert response.status_code == 422
    assert "price is required" in response.json()["error"]["details"][0]["msg"]


async def test_batch_is_accepted_as_a_whole(client: AsyncIngressClient, unique: str) -> None:
    batch = [intent_body(unique), intent_body(unique, account_id=f"other-{unique}")]

    result = await client.submit(batch)

    assert [a["intent_id"] for a in result["accepted"]] == [b["intent_id"] for b in batch]


async def test_batch_with_one_bad_intent_writes_nothing(
    client: AsyncIngressClient, unique: str
) -> None:
    batch = [intent_body(unique), intent_body(unique, quantity=-1)]

    with pytest.raises(IngressError) as refused:
        await client.submit(batch)

    assert refused.value.status == 422
    assert refused.value.details[0]["loc"] == ["body", "orders", 1, "quantity"]


async def test_redis_down_refuses_with_503(
    settings: Settings, start_ingress: Callable[..., Any], unique: str
) -> None:
    down = ingress_settings(settings).model_copy(
        update={"redis": RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", key_prefix="x:")}
    )  # type: ignore[arg-type]
    server = await start_ingress(down)
    key = await server.runtime.store.create("k", scopes=["submit"])

    response = await _raw(server, key, orjson.dumps(intent_body(unique)))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"
    assert "retry-after" in response.headers


async def test_broker_down_refuses_with_503_and_retry_after_and_writes_nothing(
    settings: Settings, start_ingress: Callable[..., Any], unique: str
) -> None:
    down = ingress_settings(settings, produce_timeout_s=1.0).model_copy(
        update={"kafka": KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")}
    )
    server = await start_ingress(down, wait_kafka=False)
    key = await server.runtime.store.create("k", scopes=["submit"])
    intent = intent_body(unique)

    response = await _raw(server, key, orjson.dumps(intent))
    ready = await asyncio.wait_for(httpx.AsyncClient(base_url=server.url).get("/readyz"), 10)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "broker_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert ready.status_code == 503
    assert ready.json()["checks"]["kafka"]["ok"] is False
    assert ready.json()["error"]["code"] == "not_ready"
    assert ["checks", "kafka"] in [d["loc"] for d in ready.json()["error"]["details"]]
    records = await read_topic(settings, INTENTS, lambda rs: False, within_s=2)
    assert not [r for r in records if r.key == intent["account_id"].encode()]


async def test_broker_killed_after_start_refuses_with_503(
    settings: Settings, start_ingress: Callable[..., Any], unique: str, tmp_path: Any
) -> None:
    from streams.embedded import EmbeddedBroker
    from streams.topics import ensure_topics

    broker = EmbeddedBroker(log_file=tmp_path / "b.log").start()
    try:
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        await ensure_topics(kafka)
        own = ingress_settings(settings, produce_timeout_s=1.5).model_copy(update={"kafka": kafka})
        server = await start_ingress(own)
        key = await server.runtime.store.create("k", scopes=["submit"])
        assert (await _raw(server, key, orjson.dumps(intent_body(unique)))).status_code == 202
        broker.kill()

        response = await _raw(server, key, orjson.dumps(intent_body(unique)))

        assert response.status_code == 503
        assert response.headers["retry-after"]
    finally:
        broker.stop()


async def test_health_and_readiness_report_dependencies(ingress: IngressServer) -> None:
    async with httpx.AsyncClient(base_url=ingress.url) as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")

    assert health.status_code == 200
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"redis", "postgres", "kafka"}
    assert "tradepipe_ingress_requests_total" in metrics.text


async def test_unknown_route_is_a_json_404(ingress: IngressServer) -> None:
    async with httpx.AsyncClient(base_url=ingress.url) as http:
        response = await http.get("/v1/nothing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
