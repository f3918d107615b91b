"""``tradepipe restore``: rebuild a lost broker's topics and table changelogs from Postgres.

After the whole broker is lost (a fresh, empty one at the same or a new address) it:

1. creates every topic of docs/topics.md and every Faust changelog the sink has seen, with the
   partition counts recorded in ``topic_partitions``;
2. re-seeds each changelog from ``table_state``: the same key bytes to the same partition, in
   offset order, so restarted workers recover the same positions, risk state, order state and
   idempotency keys;
3. re-publishes what the agents cannot rebuild from their tables: every intent the pipeline
   acknowledged (it is in ``order_intents``) that has no order yet (no row in ``orders``), and
   the latest snapshot of every position (``positions.v1`` readers get current positions; the
   sink's natural keys drop the copies it already has);
4. carries the paper exchange's venue state over to the new cluster: its Redis snapshots
   (books with their resting orders) are keyed by the Kafka cluster id, so without this the
   exchange would start with empty books and every open order would silently vanish. The
   snapshots of the cluster the sink saw last are copied to the new cluster id with their
   input offsets cleared (the new input topics start empty; ``RedisSnapshotStore.migrate``).

On the embedded broker the last record of each changelog partition goes in a batch of its
own, so Faust's recovery does not stop short of it (docs/embedded-broker.md #3); real Kafka
needs nothing.
"""

# ruff: noqa: S608  # SQL names only the schema, validated by PostgresSettings, and fixed tables
from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka.errors import KafkaError  # type: ignore[import-untyped,unused-ignore]  # no type information
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.migrations import PG_UNAVAILABLE, connect, prepare_schema
from connectors.paper.state import RedisSnapshotStore, snapshot_scope
from connectors.sink.cluster import fetch_cluster_id
from schemas.codec import AvroCodec
from schemas.records import OrderIntent, PositionSnapshot
from schemas.registry import FileRegistry
from streams.errors import BrokerUnavailable, ConfigError, SinkUnavailable
from streams.kafka import aiokafka_consumer, aiokafka_producer
from streams.settings import Profile, Settings
from streams.topics import INTENTS, POSITIONS, TopicSpec, ensure_topics

__all__ = ["RestoreSummary", "restore"]

log = structlog.get_logger(__name__)
_CHUNK = 5000


@dataclass(slots=True)
class RestoreSummary:
    """What ``restore`` did."""

    bootstrap_servers: str
    cluster_id: str
    topics_created: list[str] = field(default_factory=list)
    changelogs: dict[str, int] = field(default_factory=dict)
    intents_republished: int = 0
    positions_republished: int = 0
    paper_from_cluster: str | None = None
    paper_partitions: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> Table:
        """A one-screen rich table."""
        table = Table(title="tradepipe restore", show_header=True, header_style="bold")
        table.add_column("what")
        table.add_column("count / value", justify="right")
        table.add_row("broker", self.bootstrap_servers)
        table.add_row("cluster id", self.cluster_id)
        table.add_row("topics created", str(len(self.topics_created)))
        for topic, n in sorted(self.changelogs.items()):
            table.add_row(f"changelog {topic}", f"{n:,}")
        table.add_row("intents re-published", f"{self.intents_republished:,}")
        table.add_row("positions re-published", f"{self.positions_republished:,}")
        table.add_row("paper books from cluster", self.paper_from_cluster or "-")
        table.add_row("paper partitions carried over", str(len(self.paper_partitions)))
        table.add_row("elapsed", f"{self.seconds:.1f} s")
        return table


async def _refuse_non_empty(settings: Settings, topics: list[str]) -> None:
    """Refuse to re-seed changelogs that already hold records (restore is for an empty broker)."""
    if not topics:
        return
    consumer = aiokafka_consumer(settings, group_id=None)
    await consumer.start()
    try:
        from aiokafka import TopicPartition  # type: ignore[import-untyped,unused-ignore]

        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        ends = await consumer.end_offsets(tps) if tps else {}
    finally:
        await consumer.stop()
    full = sorted({tp.topic for tp, end in ends.items() if end > 0})
    if full:
        raise ConfigError(
            f"changelog {full[0]} already holds records; restore expects an empty broker"
            " (pass force to re-seed anyway)"
        )


async def restore(
    settings: Settings,
    *,
    console: Console | None = None,
    republish_intents: bool = True,
    republish_positions: bool = True,
    migrate_paper: bool = True,
    force: bool = False,
) -> RestoreSummary:
    """Recreate topics, re-seed changelogs, re-publish open work; show progress and a summary."""
    console = console or Console(stderr=True)
    started = time.perf_counter()
    schema = settings.postgres.db_schema
    await prepare_schema(settings.postgres, settings.profile)
    conn = await connect(settings.postgres, application_name="tradepipe-restore")
    producer = aiokafka_producer(settings, linger_ms=20, max_batch_size=512 * 1024)
    try:
        cluster_id = await fetch_cluster_id(settings.kafka)
        summary = RestoreSummary(settings.kafka.bootstrap_servers, cluster_id)
        changelogs = {
            r["topic"]: int(r["partitions"])
            for r in await conn.fetch(
                f'SELECT topic, partitions FROM "{schema}".topic_partitions WHERE changelog'
                " ORDER BY topic"
            )
        }
        extra = [TopicSpec(t, n, "table key", compacted=True) for t, n in changelogs.items()]
        try:
            summary.topics_created = await ensure_topics(settings.kafka, extra)
            if not force:
                await _refuse_non_empty(
                    settings, [t for t in changelogs if t not in summary.topics_created]
                )
            await producer.start()
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot reach Kafka: {exc}") from exc
        counts = {
            r["topic"]: int(r["n"])
            for r in await conn.fetch(
                f'SELECT topic, count(*) AS n FROM "{schema}".table_state GROUP BY topic'
            )
        }
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            for topic in changelogs:
                task = progress.add_task(f"changelog {topic}", total=counts.get(topic, 0))
                summary.changelogs[topic] = await _reseed(
                    settings, conn, producer, topic, lambda n, t=task: progress.advance(t, n)
                )
            codec = AvroCodec(FileRegistry())
            if republish_intents:
                summary.intents_republished = await _republish(
                    conn,
                    producer,
                    codec,
                    progress,
                    INTENTS,
                    OrderIntent,
                    f'SELECT i.* FROM "{schema}".order_intents i WHERE NOT EXISTS'
                    f' (SELECT 1 FROM "{schema}".orders o WHERE o.intent_id = i.intent_id)'
                    " ORDER BY i.created_at, i.intent_id",
                )
            if republish_positions:
                summary.positions_republished = await _republish(
                    conn,
                    producer,
                    codec,
                    progress,
                    POSITIONS,
                    PositionSnapshot,
                    "SELECT DISTINCT ON (account_id, instrument_token) *"
                    f' FROM "{schema}".position_snapshots'
                    " ORDER BY account_id, instrument_token, version DESC, created_at DESC",
                )
        await producer.flush()
        if migrate_paper:
            await _migrate_paper(settings, conn, summary)
    except PG_UNAVAILABLE as exc:
        raise SinkUnavailable(f"PostgreSQL went away during restore: {type(exc).__name__}") from exc
    except KafkaError as exc:
        raise BrokerUnavailable(f"Kafka failed during restore: {exc}") from exc
    finally:
        await producer.stop()
        await conn.close()
    summary.seconds = time.perf_counter() - started
    console.print(summary.table())
    log.info(
        "restore_done",
        cluster_id=summary.cluster_id,
        seconds=round(summary.seconds, 2),
        changelog_records=sum(summary.changelogs.values()),
        intents=summary.intents_republished,
        positions=summary.positions_republished,
    )
    return summary


async def _reseed(settings: Settings, conn: Any, producer: Any, topic: str, advance: Any) -> int:
    """Produce ``table_state`` of one changelog in (partition, offset) order; returns the count."""
    schema = settings.postgres.db_schema
    single_tail = settings.profile is Profile.DEV
    tails: list[tuple[int, bytes, bytes]] = []
    pending: list[Any] = []
    sent = 0
    last: tuple[int, bytes, bytes] | None = None
    async with conn.transaction():
        cursor = conn.cursor(
            f'SELECT partition, key, value FROM "{schema}".table_state WHERE topic = $1'
            ' ORDER BY partition, "offset"',
            topic,
            prefetch=_CHUNK,
        )
        async for row in cursor:
            current = (int(row["partition"]), bytes(row["key"]), bytes(row["value"]))
            if last is not None:
                if single_tail and last[0] != current[0]:
                    tails.append(last)
                else:
                    pending.append(
                        await producer.send(topic, key=last[1], value=last[2], partition=last[0])
                    )
            last = current
            if len(pending) >= _CHUNK:
                await _drain(pending)
                sent += _CHUNK
                advance(_CHUNK)
                pending = []
    if last is not None:
        if single_tail:
            tails.append(last)
        else:
            pending.append(
                await producer.send(topic, key=last[1], value=last[2], partition=last[0])
            )
    await _drain(pending)
    sent += len(pending)
    advance(len(pending))
    for partition, key, value in tails:  # each alone, after everything before it
        await producer.send_and_wait(topic, key=key, value=value, partition=partition)
        sent += 1
        advance(1)
    return sent


async def _migrate_paper(settings: Settings, conn: Any, summary: RestoreSummary) -> None:
    """Copy the paper exchange's snapshots of the last cluster the sink saw to the new one."""
    schema = settings.postgres.db_schema
    old = await conn.fetchval(
        f'SELECT cluster_id FROM "{schema}".sink_clusters WHERE cluster_id <> $1'
        " ORDER BY first_seen DESC LIMIT 1",
        summary.cluster_id,
    )
    if old is None:
        log.warning("restore_paper_no_previous_cluster", cluster_id=summary.cluster_id)
        return
    group = settings.paper.group_id
    store = RedisSnapshotStore(settings.redis.url.get_secret_value(), settings.redis.key_prefix)
    try:
        old_scope = snapshot_scope(str(old), group)
        new_scope = snapshot_scope(summary.cluster_id, group)
        copied = await asyncio.to_thread(store.migrate, old_scope, new_scope)
    finally:
        store.close()
    summary.paper_from_cluster = str(old)
    summary.paper_partitions = copied
    log.info("restore_paper_books", from_cluster=str(old), partitions=copied)


async def _drain(futures: list[Any]) -> None:
    for fut in futures:
        await fut


async def _republish(
    conn: Any,
    producer: Any,
    codec: AvroCodec,
    progress: Progress,
    topic: str,
    record_type: type[OrderIntent] | type[PositionSnapshot],
    query: str,
) -> int:
    rows = await conn.fetch(query)
    task = progress.add_task(f"re-publish {topic}", total=len(rows))
    encode = codec.encoder(topic, record_type)
    names = [f.name for f in dataclasses.fields(record_type)]
    pending = []
    for row in rows:
        record = record_type.from_avro({n: row[n] for n in names})
        pending.append(
            await producer.send(topic, key=str(row["account_id"]).encode(), value=encode(record))
        )
    await _drain(pending)
    progress.advance(task, len(rows))
    return len(rows)
