"""Broker lost entirely: restore from Postgres, the sink continues with nothing duplicated."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from streams.embedded import EmbeddedBroker
from streams.settings import Settings
from streams.topics import FILLS, INTENTS, ORDER_EVENTS, POSITIONS, TopicSpec, ensure_topics
from tests.sink.factories import make_fill, make_intent, make_order_event, make_position
from tests.sink.helpers import (
    PG_DSN,
    consume_all,
    count_rows,
    lose_broker_and_restore,
    produce_raw,
    produce_records,
    running_sink,
    wait_for_rows,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


def _changelog_updates(n_keys: int) -> list[tuple[int, bytes, bytes | None]]:
    """(partition, key, value): every key set, a third updated, a tenth deleted."""
    out: list[tuple[int, bytes, bytes | None]] = []
    for i in range(n_keys):
        out.append((i % 6, f"key-{i}".encode(), f"v1-{i}".encode()))
    for i in range(0, n_keys, 3):
        out.append((i % 6, f"key-{i}".encode(), f"v2-{i}".encode()))
    for i in range(0, n_keys, 10):
        out.append((i % 6, f"key-{i}".encode(), None))
    return out


def _latest(updates: list[tuple[int, bytes, bytes | None]]) -> dict[tuple[int, bytes], bytes]:
    state: dict[tuple[int, bytes], bytes] = {}
    for partition, key, value in updates:
        if value is None:
            state.pop((partition, key), None)
        else:
            state[(partition, key)] = value
    return state


async def test_broker_loss_then_restore_continues_without_duplicates(
    sink_broker: EmbeddedBroker,
    sink_settings: Settings,
    tmp_path: Path,
) -> None:
    schema = sink_settings.postgres.db_schema
    changelog = f"{sink_settings.app_id}-orders-changelog"
    await ensure_topics(sink_settings.kafka, [TopicSpec(changelog, 6, "key", compacted=True)])
    updates = _changelog_updates(600)
    for p in range(6):
        await produce_raw(
            sink_settings, changelog, [(k, v) for part, k, v in updates if part == p], partition=p
        )
    await produce_records(sink_settings, INTENTS, [make_intent(i) for i in range(150)])
    await produce_records(
        sink_settings,
        ORDER_EVENTS,
        [make_order_event(i, seq=s) for s in (1, 2) for i in range(100)],
    )
    await produce_records(sink_settings, FILLS, [make_fill(i) for i in range(300)])
    await produce_records(
        sink_settings,
        POSITIONS,
        [make_position(i, version=i, instrument=str(i % 3)) for i in range(12)],
    )
    expected_state = _latest(updates)
    async with running_sink(sink_settings):
        for table, n in (
            ("fills", 300),
            ("order_events", 200),
            ("order_intents", 150),
            ("position_snapshots", 12),
            ("table_state", len(expected_state)),
        ):
            await wait_for_rows(schema, table, n)

    fresh, settings, summary = await lose_broker_and_restore(
        sink_broker, sink_settings, log_file=tmp_path / "fresh.log"
    )
    try:
        restored = await consume_all(settings, changelog, idle_s=1.5)
        restored_state = {(m.partition, m.key): m.value for m in restored}
        republished = await consume_all(settings, INTENTS, idle_s=1.0)

        await produce_records(settings, FILLS, [make_fill(i) for i in range(300, 400)])
        await produce_records(
            settings, ORDER_EVENTS, [make_order_event(i, seq=1) for i in range(100, 150)]
        )
        async with running_sink(settings) as sink:
            await wait_for_rows(schema, "fills", 400)
            await wait_for_rows(schema, "order_events", 250)
            await asyncio.sleep(1.5)  # let the re-published records reach the sink too
            cluster = sink.cluster_id
    finally:
        fresh.stop()

    assert summary.changelogs == {changelog: len(expected_state)}
    assert restored_state == expected_state
    assert sorted(m.key for m in republished) == sorted(
        make_intent(i).account_id.encode() for i in range(100, 150)
    )
    assert summary.positions_republished == 3
    assert await count_rows(schema, "fills") == 400
    assert await count_rows(schema, "order_events") == 250
    assert await count_rows(schema, "order_intents") == 150
    assert await count_rows(schema, "position_snapshots") == 12
    assert await count_rows(schema, "table_state") == len(expected_state)
    conn = await asyncpg.connect(PG_DSN)
    try:
        stale = await conn.fetchval(
            f'SELECT count(*) FROM "{schema}".sink_offsets WHERE cluster_id <> $1', cluster
        )
    finally:
        await conn.close()
    assert stale == 0


async def test_running_sink_follows_a_broker_replaced_at_the_same_address(
    sink_broker: EmbeddedBroker,
    sink_settings: Settings,
    tmp_path: Path,
) -> None:
    schema = sink_settings.postgres.db_schema
    await produce_records(sink_settings, FILLS, [make_fill(i) for i in range(300)])

    fresh: EmbeddedBroker | None = None
    try:
        async with running_sink(sink_settings) as sink:
            await wait_for_rows(schema, "fills", 300)
            old_cluster = sink.cluster_id
            fresh, settings, _ = await lose_broker_and_restore(
                sink_broker, sink_settings, log_file=tmp_path / "fresh.log", same_address=True
            )
            await produce_records(settings, FILLS, [make_fill(i) for i in range(250, 400)])
            await wait_for_rows(schema, "fills", 400)
            await asyncio.sleep(1.0)
            new_cluster = sink.cluster_id
    finally:
        if fresh is not None:
            fresh.stop()

    assert new_cluster != old_cluster
    assert await count_rows(schema, "fills") == 400
