"""A record Postgres refuses (NUL in text, a key too long for its index) goes to the DLQ; the
rest of its batch is written, the offsets move past it, and the sink keeps going.

Numbers cannot be refused this way: Avro's decimal precision and the columns' agree."""

from __future__ import annotations

import hashlib

import pytest

from schemas.contracts import dlq_topic
from schemas.records import OrderEvent
from streams.dlq import DLQ_HEADERS, read_dlq_headers
from streams.settings import Settings
from streams.topics import INTENTS, ORDER_EVENTS
from tests.sink.factories import make_intent, make_order_event
from tests.sink.helpers import (
    CODEC,
    consume_all,
    count_rows,
    produce_records,
    running_sink,
    wait_for_rows,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_nul_in_symbol_goes_to_dlq_and_the_rest_of_the_batch_is_written(
    sink_settings: Settings,
) -> None:
    schema = sink_settings.postgres.db_schema
    intents = [make_intent(i, account="ACC1") for i in range(40)]
    intents[17] = intents[17].replace(symbol="a\x00b")
    await produce_records(sink_settings, INTENTS, intents)
    later = [make_intent(100 + i, account="ACC1") for i in range(5)]

    async with running_sink(sink_settings) as sink:
        await wait_for_rows(schema, "order_intents", 39)
        await produce_records(sink_settings, INTENTS, later)
        await wait_for_rows(schema, "order_intents", 44)
        await wait_for_rows(schema, "sink_dlq", 1)
        assert sink.batches >= 2

    dead = await consume_all(sink_settings, dlq_topic(INTENTS), idle_s=1.0)
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert set(DLQ_HEADERS) <= headers.keys()
    assert headers["error_code"] == b"CharacterNotInRepertoireError"
    assert headers["source_topic"] == INTENTS.encode()
    assert int(headers["source_offset"]) == 17
    assert headers["agent"] == b"sink"
    assert dead[0].key == b"ACC1"
    assert await count_rows(schema, "order_intents", "WHERE intent_id = 'int-00000017'") == 0
    assert await count_rows(schema, "sink_dlq", 'WHERE "offset" = 17') == 1


async def test_nul_in_a_columnar_order_event_goes_to_dlq_and_orders_are_written(
    sink_settings: Settings,
) -> None:
    schema = sink_settings.postgres.db_schema
    events = [make_order_event(i) for i in range(30)]
    events[3] = events[3].replace(reason="bad\x00reason")
    events[20] = events[20].replace(broker_order_id="B\x00")
    await produce_records(sink_settings, ORDER_EVENTS, events)

    async with running_sink(sink_settings):
        await wait_for_rows(schema, "order_events", 28)
        await wait_for_rows(schema, "orders", 28)
        await wait_for_rows(schema, "sink_dlq", 2)

    dead = await consume_all(sink_settings, dlq_topic(ORDER_EVENTS), idle_s=1.0)
    assert sorted(CODEC.decode(d.value, OrderEvent).event_id for d in dead) == [
        events[3].event_id,
        events[20].event_id,
    ]
    assert {dict(d.headers)["error_code"] for d in dead} == {b"CharacterNotInRepertoireError"}
    written = await count_rows(
        schema, "order_events", "WHERE event_id IN ('ev-00000003-1', 'ev-00000020-1')"
    )
    assert written == 0


async def test_a_key_too_long_for_its_index_goes_to_dlq_and_the_rest_is_written(
    sink_settings: Settings,
) -> None:
    # 8,000 hex digits that do not compress: past the 2,704-byte btree row limit
    schema = sink_settings.postgres.db_schema
    long_id = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(125))
    intents = [make_intent(i, account="ACC1") for i in range(10)]
    intents[4] = intents[4].replace(intent_id=long_id)
    await produce_records(sink_settings, INTENTS, intents)

    async with running_sink(sink_settings):
        await wait_for_rows(schema, "order_intents", 9)
        await wait_for_rows(schema, "sink_dlq", 1)

    dead = await consume_all(sink_settings, dlq_topic(INTENTS), idle_s=1.0)
    assert len(dead) == 1
    headers = read_dlq_headers(dead[0].headers)
    assert headers["error_code"] == "ProgramLimitExceededError"
    assert headers["source_offset"] == "4"
