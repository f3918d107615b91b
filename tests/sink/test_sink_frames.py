"""The columnar path (polars frames, CSV COPY) writes what the record-by-record path writes."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import asyncpg
import pytest

from connectors.migrations import apply_migrations
from connectors.sink.batching import build_batch
from connectors.sink.decode import BatchDecoder
from connectors.sink.writer import Batch, prepare_connection, write_batch
from schemas.codec import AvroCodec
from schemas.records import OrderEvent, OrderStatus
from schemas.registry import FileRegistry
from streams.settings import PostgresSettings
from streams.topics import ORDER_EVENTS
from tests.sink.factories import make_order_event
from tests.sink.helpers import PG_DSN

pytestmark = [pytest.mark.postgres]

CODEC = AvroCodec(FileRegistry())
TP = namedtuple("TP", "topic partition")
MSG = namedtuple("MSG", "offset key value")
STATUSES = [OrderStatus.RECEIVED, OrderStatus.VALIDATED, OrderStatus.APPROVED, OrderStatus.ROUTED]


def _events() -> list[OrderEvent]:
    """Per order: events out of order, and a second event with the top seq at a later offset."""
    out = []
    for order in range(30):
        for seq in (2, 4, 1, 3):
            out.append(
                make_order_event(order * 10 + seq, seq=seq, status=STATUSES[seq - 1], intent=order)
            )
        out.append(  # same seq as the newest, later offset: must not win
            make_order_event(order * 10 + 9, seq=4, status=OrderStatus.ACCEPTED, intent=order)
        )
    return out


def _batch(events: list[OrderEvent], first_offset: int, frames: bool) -> Batch:
    encode = CODEC.encoder(ORDER_EVENTS, OrderEvent)
    msgs = [MSG(first_offset + i, None, encode(e)) for i, e in enumerate(events)]
    decoder = BatchDecoder(CODEC, min_block=8 if frames else 10**9)
    batch, poison = build_batch({TP(ORDER_EVENTS, 0): msgs}, decoder, {})
    assert not poison
    assert bool(batch.frames) is frames
    return batch


async def _table(conn: asyncpg.Connection, schema: str, table: str, key: str) -> list[Any]:
    rows = await conn.fetch(f'SELECT * FROM "{schema}".{table} ORDER BY {key}')
    return [{k: v for k, v in r.items() if k != "sunk_at"} for r in rows]


async def test_frames_write_the_same_rows_and_orders_as_tuples(pg_schema: str) -> None:
    events = _events()
    results = []
    for frames in (False, True):
        schema = f"{pg_schema}_{'f' if frames else 't'}"
        await apply_migrations(PostgresSettings(dsn=PG_DSN, db_schema=schema))  # type: ignore[arg-type]
        conn = await asyncpg.connect(PG_DSN)
        try:
            await prepare_connection(conn, schema)
            stored: dict[tuple[str, int], Any] = {}
            # The first batch takes the fast path (COPY straight in); the second replays the
            # first's last 20 events, so a key exists and it takes the staging path.
            for start, end in ((0, 100), (80, 150)):
                batch = _batch(events[start:end], start, frames)
                await write_batch(conn, schema, "g", "c", batch, stored)
                stored = {tp: ("c", o) for tp, o in batch.offsets.items()}
            results.append(
                (
                    await _table(conn, schema, "order_events", "event_id"),
                    await _table(conn, schema, "orders", "intent_id"),
                )
            )
        finally:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()
    tuples, frames = results
    assert len(tuples[0]) == 150  # the replayed events are dropped by the natural key
    assert len(tuples[1]) == 30
    assert frames == tuples
    assert {(o["seq"], o["status"]) for o in frames[1]} == {(4, "ROUTED")}
