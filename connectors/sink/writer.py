"""One sink batch as one Postgres transaction: rows, current state, table state, offsets.

Exactly-once rests on two fences. The offsets fence: the batch's
``(group, topic, partition) → next offset`` rows commit in the same transaction as its rows,
and the transaction first checks (``FOR UPDATE``) that the stored offsets are still the ones
this sink read them as, so a batch a zombie or a lost-ack retry already committed is dropped.
The natural-key fence: every append-only table has a unique natural key; a batch is first
COPied straight in (inside a savepoint) and, only if a key already exists, goes through a
staging table with ``INSERT ... ON CONFLICT DO NOTHING``.

Rows come two ways: tuples (``Batch.rows``, COPied in binary) and, for the columnar tables,
polars frames (``Batch.frames``, COPied as CSV, no Python object per value).
"""

# ruff: noqa: S608  # SQL names only the schema, validated by PostgresSettings, and fixed tables
from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]  # asyncpg ships no type information
import polars as pl

from connectors.sink.audit import append_audit
from connectors.sink.tables import APPEND_TABLES, ORDER_COLUMNS, POSITION_COLUMNS
from streams.errors import TradepipeError
from streams.topics import ORDER_EVENTS

__all__ = [
    "REFUSED_BY_POSTGRES",
    "Batch",
    "Isolator",
    "OffsetsMovedError",
    "StoredOffset",
    "TopicPartitionKey",
    "load_offsets",
    "prepare_connection",
    "encode_frames",
    "record_topics",
    "write_batch",
    "write_rows",
]

TopicPartitionKey = tuple[str, int]
Isolator = Callable[[asyncpg.Connection, BaseException], Awaitable[dict[str, int]]]
"""Writes a refused batch again without its refused records (see ``write_batch``)."""

REFUSED_BY_POSTGRES: tuple[type[BaseException], ...] = (
    asyncpg.DataError,  # class 22: NUL or a bad byte in text, numeric out of range, ...
    asyncpg.NotNullViolationError,
    asyncpg.CheckViolationError,
    asyncpg.ProgramLimitExceededError,  # a key too long for its btree index
)
"""What Postgres raises for a row it cannot hold: the record's fault, not Postgres's."""
StoredOffset = tuple[str, int] | None
"""What ``sink_offsets`` holds for a partition: ``(cluster_id, next_offset)`` or nothing."""

_PG_TYPES = {
    "intent_id": "text",
    "account_id": "text",
    "client_order_id": "text",
    "instrument_token": "text",
    "exchange": "text",
    "side": "text",
    "status": "text",
    "seq": "bigint",
    "quantity": "bigint",
    "filled_quantity": "bigint",
    "leaves_quantity": "bigint",
    "price": "numeric",
    "avg_fill_price": "numeric",
    "reason_code": "text",
    "broker_order_id": "text",
    "last_event_id": "text",
    "updated_at": "timestamptz",
    "avg_price": "numeric",
    "realised_pnl": "numeric",
    "unrealised_pnl": "numeric",
    "fees": "numeric",
    "last_price": "numeric",
    "last_fill_id": "text",
    "version": "bigint",
}


class OffsetsMovedError(TradepipeError):
    """Stored offsets changed under this sink (another instance or a lost-ack retry)."""

    retriable = True
    code = "offsets_moved"


@dataclass(slots=True)
class Batch:
    """What one poll turned into, ready for one transaction."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    frames: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    # The frames as COPY's CSV, per table, and the order events' ``orders`` rows
    # (``encode_frames``, done while the previous batch is in Postgres).
    csv: dict[str, bytes] = field(default_factory=dict)
    orders_csv: bytes = b""
    audit: list[tuple[dict[str, Any], int, int]] = field(default_factory=list)
    positions: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    state: dict[tuple[str, int, bytes], tuple[bytes | None, int]] = field(default_factory=dict)
    dlq: list[tuple[str, int, int, str]] = field(default_factory=list)
    offsets: dict[TopicPartitionKey, int] = field(default_factory=dict)
    records: int = 0

    def row_count(self) -> int:
        return (
            sum(len(r) for r in self.rows.values())
            + sum(f.height for fs in self.frames.values() for f in fs)
            + len(self.audit)
            + len(self.state)
        )


def _stage(table: str) -> str:
    return f"stage_{table}"


async def prepare_connection(conn: asyncpg.Connection, schema: str) -> None:
    """Create this connection's staging tables (temporary, emptied at each commit)."""
    for table in [s.table for s in APPEND_TABLES.values() if s.table != "audit_events"] + [
        "orders"
    ]:
        await conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_stage(table)}"
            f' (LIKE "{schema}".{table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
        )


COPY_PIECE = 256 * 1024
"""Bytes of CSV handed to asyncpg at a time."""


def _csv(frame: pl.DataFrame) -> bytes:
    """A frame as COPY's CSV: empty unquoted is NULL, an empty string is quoted."""
    out = io.BytesIO()
    frame.write_csv(out, include_header=False)
    return out.getvalue()


def encode_frames(batch: Batch) -> None:
    """Fill ``batch.csv`` (and ``orders_csv``) from its frames, if not done yet.

    Pure CPU work, so the builder does it while the previous batch's transaction is in
    Postgres, and this batch's transaction only sends bytes.
    """
    for table, frames in batch.frames.items():
        if not frames or table in batch.csv:
            continue
        frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")
        batch.csv[table] = _csv(frame)
        if table == "order_events":
            batch.orders_csv = _csv(_latest_orders(frame))


async def _pieces(data: bytes, sent: Callable[[], None] | None) -> AsyncIterator[bytes]:
    """``data`` for ``copy_to_table``; ``sent()`` once asyncpg has taken the last piece."""
    view = memoryview(data)
    for start in range(0, len(data), COPY_PIECE):
        yield bytes(view[start : start + COPY_PIECE])
    if sent is not None:
        sent()


async def _copy_in(
    conn: asyncpg.Connection,
    table: str,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    csv: bytes,
    schema: str | None = None,
    sent: Callable[[], None] | None = None,
) -> None:
    """COPY tuples (binary) and CSV into ``table`` (a temporary one if no schema).

    ``sent()`` is called once the CSV is on its way (see ``write_batch``).
    """
    if rows:
        await conn.copy_records_to_table(table, records=rows, columns=columns, schema_name=schema)
    if csv:
        await conn.copy_to_table(
            table,
            source=_pieces(csv, sent),
            columns=columns,
            schema_name=schema,
            format="csv",
        )


def _orders_from_stage(schema: str) -> str:
    """Order events staged → ``order_events`` (fenced) and the latest per order → ``orders``.

    One round trip, and the current state is derived by Postgres (``DISTINCT ON`` the highest
    ``seq``, the earliest offset among equals) from the rows already sent for
    ``order_events``, instead of being collapsed in Python and sent a second time.
    """
    cols = ", ".join(APPEND_TABLES[ORDER_EVENTS].columns)
    derived = {"last_event_id": "event_id", "updated_at": "created_at"}
    picks = ", ".join(derived.get(c, c) for c in ORDER_COLUMNS)
    return (
        f'INSERT INTO "{schema}".order_events ({cols}) SELECT {cols} FROM stage_order_events'
        " ON CONFLICT DO NOTHING;"
        + _orders_upsert(
            schema,
            f"SELECT DISTINCT ON (intent_id) {picks} FROM stage_order_events"
            " ORDER BY intent_id, seq DESC, kafka_partition, kafka_offset",
        )
    )


def _orders_upsert(schema: str, select: str) -> str:
    """Upsert ``select``'s rows (one per order) into ``orders``, forward-only by ``seq``."""
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in ORDER_COLUMNS if c != "intent_id")
    return (
        f' INSERT INTO "{schema}".orders AS cur ({", ".join(ORDER_COLUMNS)}) {select}'
        f" ON CONFLICT (intent_id) DO UPDATE SET {updates} WHERE cur.seq < EXCLUDED.seq"
    )


def _latest_orders(frame: pl.DataFrame) -> pl.DataFrame:
    """The ``orders`` row of each order in ``frame``: what ``_orders_from_stage`` picks.

    The event with the highest ``seq``, the earliest ``(kafka_partition, kafka_offset)``
    among equals (unique within a batch, so the pick is deterministic).
    """
    return (
        frame.sort(
            ["intent_id", "seq", "kafka_partition", "kafka_offset"],
            descending=[False, True, False, False],
        )
        .unique(subset="intent_id", keep="first", maintain_order=True)
        .with_columns(last_event_id=pl.col("event_id"), updated_at=pl.col("created_at"))
        .select(ORDER_COLUMNS)
    )


async def _append_order_frames(
    conn: asyncpg.Connection, schema: str, batch: Batch, sent: Callable[[], None] | None = None
) -> None:
    """Order events decoded as frames: COPY straight into ``order_events`` (the fast path).

    Inside a savepoint, as ``_append``: a duplicate key (a replay) undoes only this COPY and
    the batch takes the staging path, ``_orders_from_stage``. Otherwise the newest event per
    order, picked by polars as ``DISTINCT ON`` would, goes to ``orders`` through a small
    staging table (one row per order instead of the batch's events crossing twice).
    """
    columns = APPEND_TABLES[ORDER_EVENTS].columns
    csv = batch.csv["order_events"]
    try:
        async with conn.transaction():
            await _copy_in(conn, "order_events", columns, [], csv, schema, sent)
    except asyncpg.UniqueViolationError:
        await _copy_in(conn, _stage("order_events"), columns, [], csv)
        await conn.execute(_orders_from_stage(schema))
        return
    await _copy_in(conn, _stage("orders"), ORDER_COLUMNS, [], batch.orders_csv)
    await conn.execute(
        _orders_upsert(schema, f"SELECT {', '.join(ORDER_COLUMNS)} FROM {_stage('orders')}")
    )


async def _append_order_events(
    conn: asyncpg.Connection, schema: str, rows: list[tuple[Any, ...]]
) -> None:
    """COPY into the staging table, then one statement pair does the rest (see above).

    The staging table empties itself at commit (``ON COMMIT DELETE ROWS``) and a batch has
    one list of order events, so it holds exactly this batch's rows.
    """
    columns = APPEND_TABLES[ORDER_EVENTS].columns
    await conn.copy_records_to_table(_stage("order_events"), records=rows, columns=columns)
    await conn.execute(_orders_from_stage(schema))


async def _append(
    conn: asyncpg.Connection,
    schema: str,
    table: str,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    csv: bytes,
) -> None:
    try:
        async with conn.transaction():  # a savepoint: a duplicate key undoes only this COPY
            await _copy_in(conn, table, columns, rows, csv, schema)
        return
    except asyncpg.UniqueViolationError:
        pass  # a replay (new cluster, republished record): take the fenced path
    await _copy_in(conn, _stage(table), columns, rows, csv)
    cols = ", ".join(columns)
    await conn.execute(
        f'INSERT INTO "{schema}".{table} ({cols}) SELECT {cols} FROM {_stage(table)}'
        " ON CONFLICT DO NOTHING"
    )
    await conn.execute(f"TRUNCATE {_stage(table)}")


def _unnest(columns: tuple[str, ...]) -> str:
    return ", ".join(f"${i}::{_PG_TYPES[c]}[]" for i, c in enumerate(columns, start=1))


async def _upsert_forward(
    conn: asyncpg.Connection,
    schema: str,
    table: str,
    columns: tuple[str, ...],
    key: tuple[str, ...],
    guard: str,
    rows: list[tuple[Any, ...]],
) -> None:
    arrays = [list(col) for col in zip(*rows, strict=True)]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    await conn.execute(
        f'INSERT INTO "{schema}".{table} AS cur ({", ".join(columns)})'
        f" SELECT * FROM unnest({_unnest(columns)})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE {guard}",
        *arrays,
    )


async def _write_state(
    conn: asyncpg.Connection,
    schema: str,
    state: dict[tuple[str, int, bytes], tuple[bytes | None, int]],
) -> None:
    puts = [(t, p, k, v, o) for (t, p, k), (v, o) in state.items() if v is not None]
    drops = [(t, p, k) for (t, p, k), (v, _) in state.items() if v is None]
    if puts:
        t, p, k, v, o = (list(c) for c in zip(*puts, strict=True))
        await conn.execute(
            f'INSERT INTO "{schema}".table_state (topic, partition, key, value, "offset")'
            " SELECT * FROM unnest($1::text[], $2::int[], $3::bytea[], $4::bytea[], $5::bigint[])"
            " ON CONFLICT (topic, partition, key) DO UPDATE SET value = EXCLUDED.value,"
            ' "offset" = EXCLUDED."offset", updated_at = now()',
            t,
            p,
            k,
            v,
            o,
        )
    if drops:
        t, p, k = (list(c) for c in zip(*drops, strict=True))
        await conn.execute(
            f'DELETE FROM "{schema}".table_state s USING unnest($1::text[], $2::int[], $3::bytea[])'
            " AS d(topic, partition, key)"
            " WHERE s.topic = d.topic AND s.partition = d.partition AND s.key = d.key",
            t,
            p,
            k,
        )


async def _fence_offsets(
    conn: asyncpg.Connection,
    schema: str,
    group: str,
    cluster_id: str,
    batch: Batch,
    expected: dict[TopicPartitionKey, StoredOffset],
) -> None:
    tps = list(batch.offsets)
    stored = {
        (r["topic"], r["partition"]): (r["cluster_id"], int(r["next_offset"]))
        for r in await conn.fetch(
            f'SELECT topic, partition, cluster_id, next_offset FROM "{schema}".sink_offsets'
            " WHERE group_id = $1 AND (topic, partition) IN"
            " (SELECT * FROM unnest($2::text[], $3::int[])) FOR UPDATE",
            group,
            [t for t, _ in tps],
            [p for _, p in tps],
        )
    }
    for tp in tps:
        if stored.get(tp) != expected.get(tp):
            raise OffsetsMovedError(
                f"{tp[0]}[{tp[1]}] is at {stored.get(tp)}, expected {expected.get(tp)}"
            )
    await conn.execute(
        f'INSERT INTO "{schema}".sink_offsets AS cur (group_id, topic, partition, next_offset,'
        " cluster_id) SELECT $1, t, p, o, $5::text"
        " FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, o)"
        " ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset ="
        " EXCLUDED.next_offset, cluster_id = EXCLUDED.cluster_id, updated_at = now()",
        group,
        [t for t, _ in tps],
        [p for _, p in tps],
        [batch.offsets[tp] for tp in tps],
        cluster_id,
    )


async def write_rows(
    conn: asyncpg.Connection,
    schema: str,
    batch: Batch,
    sent: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Write ``batch``'s rows, current state and table state (not its offsets): the caller's
    transaction. Returns rows written per table."""
    written: dict[str, int] = {}
    encode_frames(batch)
    for table in {**batch.rows, **batch.frames}:
        rows = batch.rows.get(table, [])
        frames = batch.frames.get(table, [])
        count = len(rows) + sum(f.height for f in frames)
        if not count:
            continue
        written[table] = count
        if table == "order_events" and not rows:
            await _append_order_frames(conn, schema, batch, sent)
            continue
        if sent is not None:
            sent()
        if table == "order_events":  # some decoded record by record: all as tuples
            await _append_order_events(conn, schema, rows + [r for f in frames for r in f.rows()])
        else:
            spec = next(s for s in APPEND_TABLES.values() if s.table == table)
            await _append(conn, schema, table, spec.columns, rows, batch.csv.get(table, b""))
    if batch.positions:
        await _upsert_forward(
            conn,
            schema,
            "positions",
            POSITION_COLUMNS,
            ("account_id", "instrument_token"),
            "(cur.version, cur.updated_at) < (EXCLUDED.version, EXCLUDED.updated_at)",
            list(batch.positions.values()),
        )
    if batch.audit:
        written["audit_events"] = await append_audit(conn, schema, batch.audit)
    if batch.state:
        await _write_state(conn, schema, batch.state)
        written["table_state"] = len(batch.state)
    return written


async def write_batch(
    conn: asyncpg.Connection,
    schema: str,
    group: str,
    cluster_id: str,
    batch: Batch,
    expected: dict[TopicPartitionKey, StoredOffset],
    before_commit: Callable[[], Awaitable[None]] | None = None,
    sent: Callable[[], None] | None = None,
    isolate: Isolator | None = None,
) -> dict[str, int]:
    """Write ``batch`` and its offsets in one transaction; returns rows written per table.

    If Postgres refuses a row (``REFUSED_BY_POSTGRES``: NUL in text, a number out of range),
    the rows are undone to a savepoint and ``isolate(conn, error)`` writes the batch again in
    the same transaction, leaving the refused records out (``connectors.sink.isolate``); the
    offsets still commit with whatever was written. Without ``isolate`` the error propagates.

    ``before_commit`` runs last inside the transaction (the DLQ send), so records a fenced
    batch would have dead-lettered are not sent, and a failed send rolls the batch back.
    ``sent()`` (idempotent) is called once the bulk of the batch is on its way to Postgres:
    after the order events' COPY data has been handed over, or before the first append
    otherwise. The caller decodes the next batch from then on; until then its event loop is
    left free, so the transaction's first small round trips are not held up by decoding.
    """
    encode_frames(batch)
    async with conn.transaction():
        await _fence_offsets(conn, schema, group, cluster_id, batch, expected)
        try:
            async with conn.transaction():  # a savepoint: a refused row undoes only the rows
                written = await write_rows(conn, schema, batch, sent)
        except REFUSED_BY_POSTGRES as exc:
            if isolate is None:
                raise
            if sent is not None:
                sent()
            written = await isolate(conn, exc)
        if batch.dlq:
            await conn.executemany(
                f'INSERT INTO "{schema}".sink_dlq (cluster_id, topic, partition, "offset", error)'
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                [(cluster_id, *d) for d in batch.dlq],
            )
        if before_commit is not None:
            await before_commit()
    return written


async def load_offsets(
    conn: asyncpg.Connection, schema: str, group: str, tps: list[TopicPartitionKey]
) -> dict[TopicPartitionKey, StoredOffset]:
    """What ``sink_offsets`` holds for these partitions: ``(cluster_id, next_offset)``."""
    rows = await conn.fetch(
        f'SELECT topic, partition, cluster_id, next_offset FROM "{schema}".sink_offsets'
        " WHERE group_id = $1 AND (topic, partition) IN"
        " (SELECT * FROM unnest($2::text[], $3::int[]))",
        group,
        [t for t, _ in tps],
        [p for _, p in tps],
    )
    return {(r["topic"], r["partition"]): (r["cluster_id"], int(r["next_offset"])) for r in rows}


async def record_topics(
    conn: asyncpg.Connection,
    schema: str,
    group: str,
    cluster_id: str,
    counts: dict[str, int],
    changelogs: set[str],
) -> None:
    """Remember the cluster and the partition counts (restore recreates changelogs from them)."""
    await conn.execute(
        f'INSERT INTO "{schema}".sink_clusters (group_id, cluster_id) VALUES ($1, $2)'
        " ON CONFLICT DO NOTHING",
        group,
        cluster_id,
    )
    names = [t for t, n in counts.items() if n]
    await conn.execute(
        f'INSERT INTO "{schema}".topic_partitions (topic, partitions, changelog)'
        " SELECT * FROM unnest($1::text[], $2::int[], $3::bool[])"
        " ON CONFLICT (topic) DO UPDATE SET partitions = EXCLUDED.partitions",
        names,
        [counts[t] for t in names],
        [t in changelogs for t in names],
    )
