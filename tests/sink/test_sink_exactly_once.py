"""Exactly once into Postgres whatever crashes: SIGKILLed sinks, lost connections, new clusters."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from streams import metrics
from streams.embedded import EmbeddedBroker
from streams.procs import spawn
from streams.settings import KafkaSettings, Settings
from streams.topics import FILLS, ORDER_EVENTS, ensure_topics
from tests.sink.factories import make_fill, make_order_event
from tests.sink.helpers import PG_DSN, count_rows, produce_records, running_sink, wait_for_rows

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]


def _day(n_intents: int, steps: int = 4) -> list:
    """``n_intents`` orders, ``steps`` lifecycle events each, interleaved like a real day."""
    return [
        make_order_event(i, seq=s, intent=i) for s in range(1, steps + 1) for i in range(n_intents)
    ]


async def _assert_exactly_once(schema: str, events: int, intents: int, steps: int) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        total = await conn.fetchval(f'SELECT count(*) FROM "{schema}".order_events')
        distinct = await conn.fetchval(
            f'SELECT count(DISTINCT (kafka_partition, kafka_offset)) FROM "{schema}".order_events'
        )
        orders = await conn.fetchrow(
            f'SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM "{schema}".orders'
        )
    finally:
        await conn.close()
    assert total == events
    assert distinct == events
    assert (orders["n"], orders["lo"], orders["hi"]) == (intents, steps, steps)


def _sink_process(settings: Settings, log_file: Path) -> object:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "TRADEPIPE_POSTGRES__DB_SCHEMA": settings.postgres.db_schema,
        "TRADEPIPE_SINK__GROUP_ID": settings.sink.group_id,
        "TRADEPIPE_SINK__BATCH_MAX_RECORDS": "1000",
        "TRADEPIPE_SINK__BATCH_MAX_WAIT_MS": "100",
        "TRADEPIPE_APP_ID": settings.app_id,
        # A SIGKILLed member holds its partitions until its session expires: keep that short.
        "TRADEPIPE_KAFKA__SESSION_TIMEOUT_S": "3",
    }
    return spawn(
        [sys.executable, "-m", "streams.cli", "sink"], log_file=log_file, env=env, cwd=ROOT
    )


@pytest.mark.slow
async def test_sink_killed_with_sigkill_five_times_writes_every_record_once(
    sink_settings: Settings,
    tmp_path: Path,
) -> None:
    schema = sink_settings.postgres.db_schema
    intents, steps = 5000, 4
    events = _day(intents, steps)
    rng = random.Random(20260105)
    log_file = tmp_path / "sink.log"
    share = len(events) // 6
    kills = 0
    proc = None
    try:
        for cycle in range(5):
            before = await _safe_count(schema)
            proc = _sink_process(sink_settings, log_file)
            producer = asyncio.create_task(
                _produce_slowly(
                    sink_settings, events[cycle * share : (cycle + 1) * share], chunk=500
                )
            )
            deadline = time.monotonic() + 60
            while await _safe_count(schema) <= before and time.monotonic() < deadline:
                assert proc.poll() is None, log_file.read_text()[-2000:]
                await asyncio.sleep(0.05)
            await asyncio.sleep(rng.uniform(0.0, 0.5))  # somewhere in the middle of batches
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            await producer
        proc = _sink_process(sink_settings, log_file)
        await _produce_slowly(sink_settings, events[5 * share :], chunk=500)
        await wait_for_rows(schema, "order_events", len(events), timeout_s=90)
        await asyncio.sleep(1.0)  # anything extra would show up now
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)

    assert kills == 5
    await _assert_exactly_once(schema, len(events), intents, steps)


async def _safe_count(schema: str) -> int:
    try:
        return await count_rows(schema, "order_events")
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        return 0


async def _produce_slowly(settings: Settings, events: list, chunk: int = 1000) -> None:
    for start in range(0, len(events), chunk):
        await produce_records(settings, ORDER_EVENTS, events[start : start + chunk])
        await asyncio.sleep(0.2)


async def test_terminated_postgres_connections_are_waited_out_exactly_once(
    sink_settings: Settings,
) -> None:
    schema = sink_settings.postgres.db_schema
    intents, steps = 1500, 4
    events = _day(intents, steps)
    retries_before = metrics.SINK_RETRIES._value.get()

    async with running_sink(sink_settings):
        producer = asyncio.create_task(_produce_slowly(sink_settings, events, chunk=500))
        conn = await asyncpg.connect(PG_DSN)
        try:
            for _ in range(4):
                await asyncio.sleep(0.8)
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = $1",
                    f"tradepipe-sink:{sink_settings.sink.group_id}",
                )
        finally:
            await conn.close()
        await producer
        await wait_for_rows(schema, "order_events", len(events), timeout_s=60)
        await asyncio.sleep(1.0)

    assert metrics.SINK_RETRIES._value.get() > retries_before
    await _assert_exactly_once(schema, len(events), intents, steps)


async def test_offsets_from_another_cluster_are_not_trusted(
    sink_settings: Settings,
    tmp_path: Path,
) -> None:
    schema = sink_settings.postgres.db_schema
    await produce_records(sink_settings, FILLS, [make_fill(i) for i in range(300)])
    async with running_sink(sink_settings):
        await wait_for_rows(schema, "fills", 300)

    with EmbeddedBroker(log_file=tmp_path / "second.log") as second:
        kafka = KafkaSettings(bootstrap_servers=second.bootstrap_servers)
        settings = sink_settings.model_copy(update={"kafka": kafka})
        await ensure_topics(kafka)
        # The new cluster holds the first 100 again (a re-publish) and 200 new ones: its offsets
        # are below the stored ones, which would skip records if they were trusted.
        await produce_records(settings, FILLS, [make_fill(i) for i in range(100, 400)])
        async with running_sink(settings) as sink:
            await wait_for_rows(schema, "fills", 400)
            await asyncio.sleep(1.0)
            cluster = sink.cluster_id

    conn = await asyncpg.connect(PG_DSN)
    try:
        fills = await conn.fetchval(f'SELECT count(*) FROM "{schema}".fills')
        clusters = await conn.fetchval(f'SELECT count(*) FROM "{schema}".sink_clusters')
        stale = await conn.fetchval(
            f'SELECT count(*) FROM "{schema}".sink_offsets WHERE cluster_id <> $1', cluster
        )
    finally:
        await conn.close()
    assert fills == 400
    assert clusters == 2
    assert stale == 0
