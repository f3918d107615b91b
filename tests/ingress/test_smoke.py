"""The happy path: a signed intent is accepted and is on orders.intents.v1."""

from __future__ import annotations

import pytest

from connectors.ingress.client import AsyncIngressClient
from schemas.codec import AvroCodec
from schemas.records import OrderIntent
from schemas.registry import FileRegistry
from streams.settings import Settings
from streams.topics import INTENTS
from tests.ingress.factories import intent_body
from tests.ingress.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]


async def test_accepted_intent_is_on_the_intents_topic_and_decodes(
    client: AsyncIngressClient, settings: Settings, unique: str
) -> None:
    body = intent_body(unique)

    result = await client.submit(body)

    assert result["status"] == "accepted"
    assert [a["intent_id"] for a in result["accepted"]] == [body["intent_id"]]
    codec = AvroCodec(FileRegistry())
    records = await read_topic(
        settings,
        INTENTS,
        lambda rs: any(r.key == body["account_id"].encode() for r in rs),
    )
    raw = [r for r in records if r.key == body["account_id"].encode()]
    mine = [codec.decode(r.value, OrderIntent) for r in raw]
    assert len(mine) == 1
    assert mine[0].intent_id == body["intent_id"]
    assert str(mine[0].price) == "2450.0500"
    assert mine[0].trace_id == result["trace_id"]
    assert dict(raw[0].headers)["trace_id"] == result["trace_id"].encode()
