"""Helpers for the sink's tests: produce records, wait for rows, run a sink, lose a broker.

``lose_broker_and_restore`` is the reusable piece for a full trading-day disaster test: kill
the broker (memory storage: every topic is gone), start a fresh one, run ``restore``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console

from connectors.postgres_sink import PostgresSink
from connectors.restore import RestoreSummary, restore
from schemas.codec import AvroCodec
from schemas.records import Record
from schemas.registry import FileRegistry
from streams.embedded import EmbeddedBroker
from streams.kafka import aiokafka_consumer, aiokafka_producer
from streams.settings import KafkaSettings, Settings

__all__ = [
    "CODEC",
    "consume_all",
    "count_rows",
    "lose_broker_and_restore",
    "produce_raw",
    "produce_records",
    "running_sink",
    "wait_for_rows",
]

CODEC = AvroCodec(FileRegistry())
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


async def produce_records(
    settings: Settings,
    topic: str,
    records: Sequence[Record],
    *,
    key_of: str = "account_id",
    chunk: int = 2000,
) -> int:
    """Encode and produce records keyed by one of their fields, in lingering batches."""
    encode = CODEC.encoder(topic, type(records[0])) if records else None
    producer = aiokafka_producer(settings, linger_ms=10)
    await producer.start()
    try:
        for start in range(0, len(records), chunk):
            futures = [
                await producer.send(
                    topic,
                    value=encode(r),  # type: ignore[misc]
                    key=str(getattr(r, key_of, "") or "").encode(),
                )
                for r in records[start : start + chunk]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(records)


async def produce_raw(
    settings: Settings,
    topic: str,
    items: Iterable[tuple[bytes | None, bytes | None]],
    *,
    partition: int | None = None,
) -> int:
    """Produce raw (key, value) pairs; a None value is a tombstone."""
    producer = aiokafka_producer(settings, linger_ms=10)
    await producer.start()
    n = 0
    try:
        futures = []
        for key, value in items:
            futures.append(await producer.send(topic, key=key, value=value, partition=partition))
            n += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


async def consume_all(settings: Settings, topic: str, *, idle_s: float = 2.0) -> list[Any]:
    """Every record on ``topic`` (read until nothing arrives for ``idle_s``)."""
    consumer = aiokafka_consumer(settings, topic, group_id=None)
    await consumer.start()
    out: list[Any] = []
    try:
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < idle_s:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                out.extend(msgs)
            if batch:
                idle_since = time.monotonic()
    finally:
        await consumer.stop()
    return out


async def count_rows(schema: str, table: str, where: str = "") -> int:
    """``count(*)`` of one table of the test's schema."""
    conn = await asyncpg.connect(PG_DSN)
    try:
        return int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".{table} {where}'))
    finally:
        await conn.close()


async def wait_for_rows(schema: str, table: str, n: int, *, timeout_s: float = 60.0) -> int:
    """Poll until ``table`` holds at least ``n`` rows; returns the last count."""
    deadline = time.monotonic() + timeout_s
    have = -1
    while time.monotonic() < deadline:
        with contextlib.suppress(asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
            have = await count_rows(schema, table)
            if have >= n:
                return have
        await asyncio.sleep(0.3)
    raise AssertionError(f"{schema}.{table} has {have} rows after {timeout_s}s, expected {n}")


@contextlib.asynccontextmanager
async def running_sink(settings: Settings, **kwargs: Any) -> AsyncIterator[PostgresSink]:
    """A started sink running its loop in a task; stopped on exit."""
    sink = PostgresSink(settings, **kwargs)
    await sink.start()
    task = asyncio.create_task(sink.run())
    try:
        yield sink
    finally:
        await sink.stop()
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def lose_broker_and_restore(
    broker: EmbeddedBroker,
    settings: Settings,
    *,
    log_file: Path | None = None,
    same_address: bool = False,
) -> tuple[EmbeddedBroker, Settings, RestoreSummary]:
    """SIGKILL ``broker`` (all topics lost), start a fresh one, run ``restore`` against it."""
    broker.kill()
    fresh = EmbeddedBroker(port=broker.port if same_address else None, log_file=log_file)
    fresh.start()
    kafka = KafkaSettings(
        **{**settings.kafka.model_dump(), "bootstrap_servers": fresh.bootstrap_servers}
    )
    new_settings = settings.model_copy(update={"kafka": kafka})
    summary = await restore(new_settings, console=Console(file=io.StringIO(), width=120))
    return fresh, new_settings, summary
