"""Poison records on every sunk topic go to their DLQ with the reason; the sink keeps going."""

from __future__ import annotations

import pytest

from schemas.contracts import dlq_topic
from streams.dlq import DLQ_HEADERS
from streams.settings import Settings
from streams.topics import AUDIT, CONTROL, FILLS, INTENTS, ORDER_EVENTS, POSITIONS
from tests.sink.factories import make_fill
from tests.sink.helpers import (
    consume_all,
    count_rows,
    produce_raw,
    produce_records,
    running_sink,
    wait_for_rows,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SUNK = [INTENTS, ORDER_EVENTS, FILLS, POSITIONS, AUDIT, CONTROL]


async def test_poison_on_each_sunk_topic_goes_to_its_dlq_and_the_sink_continues(
    sink_settings: Settings,
) -> None:
    schema = sink_settings.postgres.db_schema
    for topic in SUNK:
        await produce_raw(sink_settings, topic, [(b"ACC1", b"\x00\x00\x00\x00\x01garbage")])
    await produce_raw(sink_settings, FILLS, [(b"ACC1", b"not avro at all")])
    await produce_records(sink_settings, FILLS, [make_fill(i) for i in range(50)])

    async with running_sink(sink_settings):
        await wait_for_rows(schema, "fills", 50)
        await wait_for_rows(schema, "sink_dlq", len(SUNK) + 1)

    for topic in SUNK:
        dead = await consume_all(sink_settings, dlq_topic(topic), idle_s=1.0)
        assert len(dead) == (2 if topic == FILLS else 1), topic
        headers = {k: v.decode() for k, v in dead[0].headers}
        assert headers["source_topic"] == topic
        assert headers["error"].startswith("decode_error") or "schema" in headers["error"]
        assert set(DLQ_HEADERS) <= headers.keys()
        assert headers["agent"] == "sink"
        assert int(headers["source_partition"]) >= 0
        assert headers["source_offset"] == "0"  # the first record of its partition
        assert headers["error_code"] == headers["error"].split(":", 1)[0]
        assert dead[0].key == b"ACC1"
    assert await count_rows(schema, "sink_dlq") == len(SUNK) + 1
