"""The sink's tables: typed rows per stream, current state moving forward, changelog state."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import httpx
import pytest

from schemas.records import OrderStatus
from streams.settings import Settings
from streams.topics import AUDIT, CONTROL, FILLS, INTENTS, ORDER_EVENTS, POSITIONS
from tests.sink.factories import (
    make_audit,
    make_command,
    make_fill,
    make_intent,
    make_order_event,
    make_position,
)
from tests.sink.helpers import PG_DSN, produce_raw, produce_records, running_sink, wait_for_rows

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_every_sunk_topic_lands_in_its_table_with_typed_columns(
    sink_settings: Settings,
) -> None:
    schema = sink_settings.postgres.db_schema
    await produce_records(sink_settings, INTENTS, [make_intent(i) for i in range(30)])
    await produce_records(sink_settings, ORDER_EVENTS, [make_order_event(i) for i in range(40)])
    await produce_records(sink_settings, FILLS, [make_fill(i) for i in range(20)])
    await produce_records(
        sink_settings,
        POSITIONS,
        [make_position(i, version=i, instrument=str(i % 3)) for i in range(9)],
    )
    await produce_records(sink_settings, AUDIT, [make_audit(i) for i in range(15)])
    await produce_records(sink_settings, CONTROL, [make_command(i) for i in range(5)])

    async with running_sink(sink_settings):
        await wait_for_rows(schema, "control_commands", 5)
        await wait_for_rows(schema, "audit_events", 15)
        await wait_for_rows(schema, "position_snapshots", 9)
        await wait_for_rows(schema, "fills", 20)
        await wait_for_rows(schema, "order_events", 40)
        await wait_for_rows(schema, "order_intents", 30)

    conn = await asyncpg.connect(PG_DSN)
    try:
        fill = await conn.fetchrow(
            f'SELECT * FROM "{schema}".fills WHERE fill_id = $1', "fill-00000003"
        )
        positions = await conn.fetch(
            f'SELECT * FROM "{schema}".positions ORDER BY instrument_token'
        )
        orders = await conn.fetchval(f'SELECT count(*) FROM "{schema}".orders')
        command = await conn.fetchrow(f'SELECT limits FROM "{schema}".control_commands LIMIT 1')
    finally:
        await conn.close()
    assert fill["price"] == Decimal("99.9500")
    assert fill["created_at"] == make_fill(3).created_at
    assert [p["version"] for p in positions] == [6, 7, 8]
    assert orders == 40
    assert command["limits"] == '{"max_qty": "10"}'


async def test_order_state_moves_forward_by_seq_only(sink_settings: Settings) -> None:
    schema = sink_settings.postgres.db_schema
    events = [
        make_order_event(1, seq=1, status=OrderStatus.RECEIVED),
        make_order_event(1, seq=3, status=OrderStatus.ROUTED),
        make_order_event(1, seq=2, status=OrderStatus.APPROVED),  # late: must not win
    ]
    await produce_records(sink_settings, ORDER_EVENTS, events)

    async with running_sink(sink_settings):
        await wait_for_rows(schema, "order_events", 3)

    conn = await asyncpg.connect(PG_DSN)
    try:
        row = await conn.fetchrow(f'SELECT status, seq FROM "{schema}".orders')
    finally:
        await conn.close()
    assert (row["status"], row["seq"]) == ("ROUTED", 3)


async def test_changelog_keeps_latest_value_per_key_and_drops_tombstones(
    sink_settings: Settings,
) -> None:
    schema = sink_settings.postgres.db_schema
    topic = f"{sink_settings.app_id}-positions-changelog"
    from streams.topics import TopicSpec, ensure_topics

    await ensure_topics(sink_settings.kafka, [TopicSpec(topic, 3, "key", compacted=True)])
    await produce_raw(
        sink_settings,
        topic,
        [(b"k1", b"v1"), (b"k2", b"v2"), (b"k1", b"v1b"), (b"k3", b"v3"), (b"k3", None)],
        partition=1,
    )

    async with running_sink(sink_settings):
        await wait_for_rows(schema, "sink_offsets", 1)

    conn = await asyncpg.connect(PG_DSN)
    try:
        rows = await conn.fetch(
            f'SELECT partition, key, value FROM "{schema}".table_state ORDER BY key'
        )
        count = await conn.fetchval(
            f'SELECT partitions FROM "{schema}".topic_partitions WHERE topic = $1', topic
        )
    finally:
        await conn.close()
    assert [(r["partition"], r["key"], r["value"]) for r in rows] == [
        (1, b"k1", b"v1b"),
        (1, b"k2", b"v2"),
    ]
    assert count == 3


async def test_metrics_endpoint_serves_sink_rows(sink_settings: Settings) -> None:
    schema = sink_settings.postgres.db_schema
    await produce_records(sink_settings, FILLS, [make_fill(i) for i in range(10)])

    async with running_sink(sink_settings, serve_metrics=True) as sink:
        await wait_for_rows(schema, "fills", 10)
        url = f"http://127.0.0.1:{sink.metrics_port}/metrics"
        async with httpx.AsyncClient() as client:
            body = (await client.get(url, timeout=5)).text

    assert 'tradepipe_sink_rows_total{table="fills"}' in body
    assert "tradepipe_sink_last_commit_timestamp_seconds" in body
