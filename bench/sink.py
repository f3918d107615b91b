"""Sink benchmark: sustained rows/s with exactly-once on, beside a raw COPY in the same run.

    .venv/bin/python bench/sink.py                 # 200,000 order events
    .venv/bin/python bench/sink.py -n 50000
    .venv/bin/python bench/sink.py --batch 20000   # the sink's batch_max_records
    .venv/bin/python bench/sink.py --restore       # restore of a day with 100,000 orders

Starts its own embedded broker, uses a throwaway schema in the configured Postgres (dropped at
the end), and prints the figures side by side: the machine is noisy, compare ratios.
The producer batches (linger); nothing here restarts a table owner, so batching stays on.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.migrations import apply_migrations
from connectors.postgres_sink import PostgresSink
from connectors.restore import restore
from connectors.sink.tables import APPEND_TABLES
from schemas.codec import AvroCodec
from schemas.records import Exchange, OrderEvent, OrderIntent, OrderStatus, Side
from schemas.registry import FileRegistry
from streams.embedded import EmbeddedBroker
from streams.kafka import aiokafka_producer
from streams.logs import configure_logging
from streams.procs import spawn
from streams.settings import KafkaSettings, PostgresSettings, Settings, SinkSettings
from streams.topics import ORDER_EVENTS, ensure_topics

__all__ = ["bench_restore", "bench_sink", "main"]

REFERENCE_COPY_RATE = 116_000
"""Raw asyncpg COPY rows/s measured here before the sink was built (docs/performance.md)."""
DSN = os.environ.get("TRADEPIPE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
STATUSES = [OrderStatus.RECEIVED, OrderStatus.VALIDATED, OrderStatus.APPROVED, OrderStatus.ROUTED]


def _events(n: int) -> list[OrderEvent]:
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    base = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)
    out = []
    for i in range(n):
        intent, step = divmod(i, 4)
        out.append(
            OrderEvent(
                event_id=f"ev-{i:09d}",
                intent_id=f"int-{intent:09d}",
                account_id=f"ACC{intent % 97}",
                client_order_id=f"coid-{intent:09d}",
                instrument_token=str(2885 + intent % 211),
                exchange=Exchange.NSE,
                side=Side.BUY if intent % 2 else Side.SELL,
                status=STATUSES[step],
                seq=step + 1,
                quantity=10,
                filled_quantity=0,
                leaves_quantity=10,
                price=Decimal("2450.0500"),
                stage="bench",
                created_at=base + timedelta(microseconds=i),
                trace_id=f"tr-{intent}",
            )
        )
    return out


async def _produce(settings: Settings, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    producer = aiokafka_producer(settings, linger_ms=10, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        for start in range(0, len(payloads), 10_000):
            futures = [
                await producer.send(topic, key=k, value=v)
                for k, v in payloads[start : start + 10_000]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def _count(conn: asyncpg.Connection, schema: str, table: str) -> int:
    return int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".{table}'))


async def _committed(conn: asyncpg.Connection, schema: str, group: str) -> int:
    """Records the sink has committed: its offsets, which commit with the rows.

    One index lookup, where ``count(*)`` scans the growing table (17 ms at 200,000 rows here,
    ten times a second, on the two cores the sink shares): the poll no longer slows what it
    measures. The offsets start at 0 on the bench's own broker, so their sum is the count.
    """
    return int(
        await conn.fetchval(
            f'SELECT coalesce(sum(next_offset), 0) FROM "{schema}".sink_offsets'
            " WHERE group_id = $1",
            group,
        )
    )


def _sink_process(settings: Settings) -> subprocess.Popen[bytes]:
    """One more sink in the same group, as its own process (scale-out by partitions)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "TRADEPIPE_POSTGRES__DSN": DSN,
        "TRADEPIPE_POSTGRES__DB_SCHEMA": settings.postgres.db_schema,
        "TRADEPIPE_SINK__GROUP_ID": settings.sink.group_id,
        "TRADEPIPE_LOG__LEVEL": "WARNING",
    }
    return spawn([sys.executable, "-m", "streams.cli", "sink"], env=env)


async def bench_sink(n: int, processes: int = 1, batch: int | None = None) -> None:
    schema = f"bench_sink_{os.getpid()}"
    with EmbeddedBroker() as broker:
        settings = Settings(
            kafka=KafkaSettings(bootstrap_servers=broker.bootstrap_servers),
            postgres=PostgresSettings(dsn=DSN, db_schema=schema),  # type: ignore[arg-type]
            sink=SinkSettings(
                group_id=f"bench-{os.getpid()}",
                batch_max_records=batch or SinkSettings().batch_max_records,
            ),
        )
        await ensure_topics(settings.kafka)
        codec = AvroCodec(FileRegistry())
        events = _events(n)
        encode = codec.encoder(ORDER_EVENTS, OrderEvent)
        payloads = [(e.account_id.encode(), encode(e)) for e in events]
        produce_s = await _produce(settings, ORDER_EVENTS, payloads)
        print(f"produced {n:,} order events in {produce_s:.1f} s ({n / produce_s:,.0f}/s)")

        conn = await asyncpg.connect(DSN)
        try:
            procs = [_sink_process(settings) for _ in range(processes - 1)]
            sink = PostgresSink(settings)
            await sink.start()
            task = asyncio.create_task(sink.run())
            t0 = c0 = None
            cpu0 = 0.0
            while True:
                have = await _committed(conn, schema, settings.sink.group_id)
                now = time.perf_counter()
                if t0 is None and have > 0:
                    t0, c0, cpu0 = now, have, time.process_time()
                if have >= n:
                    break
                await asyncio.sleep(0.02)
            t1 = time.perf_counter()
            cpu = time.process_time() - cpu0
            sunk = await _count(conn, schema, "order_events")
            if sunk != n:
                raise SystemExit(f"order_events holds {sunk:,} rows, expected {n:,}")
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=15)
            await sink.stop()
            await task
            assert t0 is not None
            assert c0 is not None
            sink_rate = (n - c0) / max(t1 - t0, 1e-9)
            orders = await _count(conn, schema, "orders")

            # The same rows, the same table shape (columns, keys, indexes), one raw COPY.
            spec = APPEND_TABLES[ORDER_EVENTS]
            build = spec.row_builder()
            rows = [build(e.to_avro(), 0, i) for i, e in enumerate(events)]
            await conn.execute(
                f'CREATE TABLE "{schema}".raw_copy (LIKE "{schema}".order_events INCLUDING ALL)'
            )
            started = time.perf_counter()
            await conn.copy_records_to_table(
                "raw_copy", records=rows, columns=spec.columns, schema_name=schema
            )
            raw_rate = n / (time.perf_counter() - started)
            # And in the sink's batch size, one transaction each (what batching alone costs).
            await conn.execute(f'TRUNCATE "{schema}".raw_copy')
            size = settings.sink.batch_max_records
            started = time.perf_counter()
            for start in range(0, n, size):
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "raw_copy",
                        records=rows[start : start + size],
                        columns=spec.columns,
                        schema_name=schema,
                    )
            batched_rate = n / (time.perf_counter() - started)
        finally:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()
    print(
        f"sink x{processes} (exactly-once: decode, COPY, orders upsert, offsets):"
        f" {sink_rate:,.0f} rows/s"
        f"  [{orders:,} current-state orders]"
    )
    from streams import metrics

    batch_s = metrics.SINK_BATCH_SECONDS.collect()[0].samples
    batch_rows = metrics.SINK_BATCH_ROWS.collect()[0].samples
    tx_sum = next(x.value for x in batch_s if x.name.endswith("_sum"))
    tx_n = next(x.value for x in batch_s if x.name.endswith("_count"))
    rows_sum = next(x.value for x in batch_rows if x.name.endswith("_sum"))
    print(
        f"  {tx_n:.0f} transactions, {rows_sum / max(tx_n, 1):,.0f} rows each,"
        f" {1000 * tx_sum / max(tx_n, 1):.1f} ms in Postgres each"
    )
    print(
        f"  sink process CPU over the measured span: {cpu:.2f} s in {t1 - t0:.2f} s"
        f" ({100 * cpu / max(t1 - t0, 1e-9):.0f} % of one core; the bench's row counting is"
        " included and small)"
    )
    print(f"raw asyncpg COPY of the same rows into the same table shape: {raw_rate:,.0f} rows/s")
    print(
        f"raw COPY in {settings.sink.batch_max_records:,}-row transactions:"
        f" {batched_rate:,.0f} rows/s"
    )
    print(
        f"ratio sink / raw COPY: {sink_rate / raw_rate:.2f}  (target >= 0.50);"
        f" sink / batched raw COPY: {sink_rate / batched_rate:.2f}"
    )
    print(
        f"against the raw COPY reference of docs/performance.md ({REFERENCE_COPY_RATE:,} rows/s):"
        f" sink {sink_rate / REFERENCE_COPY_RATE:.2f}x, this run's raw COPY"
        f" {raw_rate / REFERENCE_COPY_RATE:.2f}x"
    )


def _faust_like_state(n_orders: int) -> list[tuple[Any, ...]]:
    """table_state rows of a day: order state and idempotency keys per order, positions, risk."""
    rows: list[tuple[Any, ...]] = []
    value = b"x" * 180
    for i in range(n_orders):
        rows.append(("tradepipe-orders-changelog", i % 6, f"int-{i:09d}".encode(), value, i))
        idem_key = f"ACC{i % 97}:coid-{i}".encode()
        rows.append(("tradepipe-client_order_ids-changelog", i % 6, idem_key, value[:40], i))
    for a in range(97):
        rows.append(("tradepipe-risk-changelog", a % 6, f"ACC{a}".encode(), value, a))
        for inst in range(20):
            rows.append(
                (
                    "tradepipe-positions-changelog",
                    a % 6,
                    f"ACC{a}:{2885 + inst}".encode(),
                    value,
                    a * 20 + inst,
                )
            )
    return rows


async def bench_restore(n_orders: int) -> None:
    schema = f"bench_restore_{os.getpid()}"
    postgres = PostgresSettings(dsn=DSN, db_schema=schema)  # type: ignore[arg-type]
    await apply_migrations(postgres)
    conn = await asyncpg.connect(DSN)
    try:
        state = _faust_like_state(n_orders)
        await conn.copy_records_to_table(
            "table_state",
            records=state,
            schema_name=schema,
            columns=("topic", "partition", "key", "value", "offset"),
        )
        await conn.executemany(
            f'INSERT INTO "{schema}".topic_partitions VALUES ($1, 6, true)',
            [(t,) for t in sorted({r[0] for r in state})],
        )
        intents = [
            OrderIntent(
                intent_id=f"int-{i:09d}",
                account_id=f"ACC{i % 97}",
                client_order_id=f"coid-{i}",
                instrument_token="2885",
                exchange=Exchange.NSE,
                side=Side.BUY,
                quantity=1,
                order_type="MARKET",  # type: ignore[arg-type]
            ).to_avro()
            for i in range(n_orders // 100)
        ]  # 1 % of the day still unprocessed
        spec = APPEND_TABLES["orders.intents.v1"]
        build = spec.row_builder()
        await conn.copy_records_to_table(
            "order_intents",
            schema_name=schema,
            columns=spec.columns,
            records=[build(v, 0, i) for i, v in enumerate(intents)],
        )
        with EmbeddedBroker() as broker:
            settings = Settings(
                kafka=KafkaSettings(bootstrap_servers=broker.bootstrap_servers), postgres=postgres
            )
            console = Console(file=io.StringIO())
            started = time.perf_counter()
            summary = await restore(settings, console=console)
            elapsed = time.perf_counter() - started
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    records = sum(summary.changelogs.values())
    print(f"restore of a day with {n_orders:,} orders: {elapsed:.1f} s (target < 60 s)")
    print(
        f"  changelog records re-seeded: {records:,} in {len(summary.changelogs)} changelogs"
        f" ({records / elapsed:,.0f}/s), intents re-published: {summary.intents_republished:,},"
        f" topics created: {len(summary.topics_created)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200_000, help="order events to sink")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="sink processes in the group (scale-out by partitions)",
    )
    parser.add_argument(
        "--batch", type=int, default=None, help="the sink's batch_max_records (default: settings')"
    )
    parser.add_argument("--restore", action="store_true", help="time restore instead")
    parser.add_argument("--orders", type=int, default=100_000, help="orders in the restored day")
    args = parser.parse_args()
    configure_logging(level="WARNING")
    if args.restore:
        asyncio.run(bench_restore(args.orders))
    else:
        asyncio.run(bench_sink(args.n, args.processes, args.batch))


if __name__ == "__main__":
    main()
