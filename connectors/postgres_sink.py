"""``PostgresSink``: the exactly-once copy of the pipeline's streams and table state in Postgres.

Input: ``orders.intents.v1``, ``orders.events.v1``, ``exec.fills.v1``, ``positions.v1``,
``audit.events.v1``, ``control.commands.v1`` and the Faust table changelogs
(``<app_id>-<table>-changelog`` by default), in its own consumer group. Output: the tables of
``connectors/migrations/sql``. Offsets live in Postgres, never in Kafka: each batch commits with its
``(group, topic, partition) → next offset`` rows (see ``connectors.sink.writer``), and every
partition assignment seeks to what Postgres holds, unless the stored offsets belong to another
Kafka cluster, in which case the partition starts from the beginning and the natural keys fence
the replay. Poison goes to ``<topic>.dlq``: bytes that do not decode, and records whose rows
Postgres refuses (``connectors.sink.isolate``), the rest of their batch written; Postgres
outages are waited out with backoff.
"""

# SQL names only the schema, validated by PostgresSettings, and fixed tables
from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from typing import Any

import structlog
from aiokafka import (  # type: ignore[import-untyped,unused-ignore]  # aiokafka ships no type information
    AIOKafkaConsumer,
    AIOKafkaProducer,
    TopicPartition,
)
from aiokafka.abc import ConsumerRebalanceListener  # type: ignore[import-untyped,unused-ignore]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped,unused-ignore]
from prometheus_client import start_http_server

from connectors.migrations import PG_UNAVAILABLE, prepare_schema
from connectors.sink.batching import Poison, build_batch, build_batch_yielding
from connectors.sink.cluster import fetch_cluster_id
from connectors.sink.connection import SinkConnection
from connectors.sink.decode import BatchDecoder
from connectors.sink.dlq import send_to_dlq
from connectors.sink.isolate import Isolation
from connectors.sink.tables import (
    APPEND_TABLES,
    SUNK_TOPICS,
    changelog_regex,
    subscription_pattern,
)
from connectors.sink.writer import (
    Batch,
    OffsetsMovedError,
    StoredOffset,
    load_offsets,
    record_topics,
    write_batch,
)
from schemas.codec import AvroCodec
from schemas.registry import FileRegistry
from streams import metrics
from streams.errors import BrokerUnavailable, ConfigError, SinkUnavailable
from streams.kafka import aiokafka_consumer, aiokafka_producer
from streams.service import AsyncService
from streams.settings import Settings
from streams.topics import ensure_topics

__all__ = ["PostgresSink"]

log = structlog.get_logger(__name__)

POLL_SLICE = 1_000
"""Records taken from the consumer per ``getmany`` call while a batch fills up."""


async def _quietly(closing: Coroutine[Any, Any, Any], what: str) -> None:
    """Close a Kafka client whose broker may be gone, without leaking its errors."""
    try:
        await asyncio.wait_for(closing, 15)
    except (KafkaError, TimeoutError) as exc:
        log.warning("sink_close_failed", client=what, error=type(exc).__name__)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # this task is being cancelled: honour it
        # aiokafka's fetcher can leak a CancelledError on close when the broker is gone.
        log.warning("sink_close_failed", client=what, error="CancelledError")


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types
    def __init__(self, sink: PostgresSink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self.sink._stored.pop((tp.topic, tp.partition), None)
            self.sink._next.pop((tp.topic, tp.partition), None)
        self.sink._generation += 1  # batches built for revoked partitions are dropped

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.sink._on_assigned(assigned)


class PostgresSink(AsyncService):
    """The sink process's core: ``async with PostgresSink(settings) as sink: await sink.run()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        changelog_topics: Sequence[str] = (),
        changelog_patterns: Sequence[str] | None = None,
        serve_metrics: bool = False,
        codec: AvroCodec | None = None,
    ) -> None:
        self.settings = settings
        self.schema = settings.postgres.db_schema
        self.group = settings.sink.group_id
        patterns = (
            [changelog_regex(settings.app_id)]
            if changelog_patterns is None
            else list(changelog_patterns)
        )
        self.pattern = subscription_pattern([*SUNK_TOPICS, *changelog_topics], patterns)
        self.codec = codec or AvroCodec(FileRegistry())
        self._decoder = BatchDecoder(self.codec)
        self.serve_metrics = serve_metrics
        self.metrics_port: int | None = None
        self.cluster_id = ""
        self.batches = 0
        self._stored: dict[tuple[str, int], StoredOffset] = {}
        # The next offset each partition should deliver (None: anything, after a fresh start).
        self._next: dict[tuple[str, int], int | None] = {}
        # Bumped by every seek and revocation: batches built before it are stale.
        self._generation = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._metrics_server: Any = None
        self._stopping = asyncio.Event()
        self._pg = SinkConnection(settings.postgres, self.group, self._stopping)
        # One connection, used by the poll loop and by the rebalance listener's task.
        self._pg_lock = asyncio.Lock()
        self._run_task: asyncio.Task[None] | None = None
        # Set by the write in flight once its bulk data is sent: the next poll may start.
        self._sent = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self, *, startup_timeout_s: float = 60.0) -> None:
        """Check (prod) or apply (dev) migrations, connect, create topics, join the group.

        All of it is undone if one step fails.
        """
        started = False
        try:
            await self._start(startup_timeout_s)
            started = True
        finally:
            if not started:
                await self._close()

    async def _start(self, startup_timeout_s: float) -> None:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            try:
                await prepare_schema(self.settings.postgres, self.settings.profile)
                break
            except SinkUnavailable:
                if time.monotonic() > deadline:
                    raise
                log.warning("sink_postgres_unavailable", phase="start")
                await asyncio.sleep(1.0)
        await self._pg.connect()
        try:
            await ensure_topics(self.settings.kafka)
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot create topics: {exc}") from exc
        self.cluster_id = await fetch_cluster_id(self.settings.kafka)
        self._producer = aiokafka_producer(self.settings)
        self._consumer = aiokafka_consumer(
            self.settings,
            group_id=self.group,
            metadata_max_age_ms=5_000,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        try:
            await self._producer.start()
            self._consumer.subscribe(pattern=self.pattern, listener=_Rebalance(self))
            await self._consumer.start()
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot reach Kafka: {exc}") from exc
        if self.serve_metrics:
            port = self.settings.metrics_port
            try:
                server, _ = start_http_server(port, registry=metrics.REGISTRY)
            except OSError as exc:
                raise ConfigError(f"cannot serve metrics on port {port}: {exc}") from exc
            self._metrics_server = server
            self.metrics_port = int(server.server_port)
            log.info("sink_metrics_serving", url=f"http://127.0.0.1:{self.metrics_port}/metrics")
        log.info("sink_started", group=self.group, schema=self.schema, cluster_id=self.cluster_id)

    async def stop(self) -> None:
        """Leave the group and close everything; a running ``run()`` returns first."""
        self._stopping.set()
        if self._run_task is not None and self._run_task is not asyncio.current_task():
            await asyncio.gather(self._run_task, return_exceptions=True)
        await self._close()
        log.info("sink_stopped", group=self.group, batches=self.batches)

    async def _close(self) -> None:
        if self._consumer is not None:
            await _quietly(self._consumer.stop(), "consumer")
            self._consumer = None
        if self._producer is not None:
            await _quietly(self._producer.stop(), "producer")
            self._producer = None
        await self._pg.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server = None

    async def run(self) -> None:
        """Poll, build, write, repeat, until ``stop()``.

        Pipelined, one batch deep: batch N+1 is fetched and decoded while batch N's
        transaction is in Postgres; the writes themselves stay one after another, each with its
        offsets. If a seek (rebalance, recovery, a failed write) ran while a poll was in
        flight, the poll's records may predate it: they are dropped and every partition is
        sought to Postgres's view again.
        """
        consumer = self._consumer
        assert consumer is not None, "start() first"
        self._run_task = asyncio.current_task()
        writing: asyncio.Task[None] | None = None
        try:
            while not self._stopping.is_set():
                generation = self._generation
                data = await self._poll(consumer)
                built = (
                    await build_batch_yielding(data, self._decoder, self._next) if data else None
                )
                if writing is not None:
                    await writing
                    writing = None
                if built is not None:
                    job = self._process(generation, data, *built)
                    if self._current(generation, data):
                        self._sent.clear()
                        writing = asyncio.create_task(job)
                        await self._until_sent(writing)
                    else:  # it will seek: the next poll must not start before that
                        await job
                self._update_lag()
            if writing is not None:
                await writing
                writing = None
        finally:
            if writing is not None:  # run() failed or was cancelled with a write in flight
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)

    async def _poll(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Any]]:
        """One batch's records, taken from the consumer ``POLL_SLICE`` at a time.

        aiokafka turns fetched bytes into records inside ``getmany`` without handing the event
        loop back (about 1.3 ms per 1,000 records here). One call for a whole batch held up
        the previous batch's transaction that long before its first statement; in slices,
        with a turn for the loop between them, it does not wait.
        """
        conf = self.settings.sink
        data: dict[TopicPartition, list[Any]] = await consumer.getmany(
            timeout_ms=conf.batch_max_wait_ms, max_records=min(POLL_SLICE, conf.batch_max_records)
        )
        got = sum(len(records) for records in data.values())
        while data and got < conf.batch_max_records:
            await asyncio.sleep(0)
            more = await consumer.getmany(
                timeout_ms=0, max_records=min(POLL_SLICE, conf.batch_max_records - got)
            )
            if not more:
                break
            for tp, records in more.items():
                data.setdefault(tp, []).extend(records)
                got += len(records)
        return data

    async def _until_sent(self, writing: asyncio.Task[None]) -> None:
        """Wait until ``writing`` has its bulk data on the way to Postgres, or has ended.

        Its first round trips (begin, the offsets fence, a savepoint) then run with the event
        loop free; measured, with the next poll and decode running beside them, each of them
        waited 3 to 17 ms for the loop. The COPY that follows keeps Postgres busy for longer
        than the next batch takes to decode.
        """
        waiter = asyncio.ensure_future(self._sent.wait())
        try:
            await asyncio.wait({writing, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    def _current(self, generation: int, data: dict[TopicPartition, list[Any]]) -> bool:
        """No seek since this poll started, and every partition in it was sought."""
        return generation == self._generation and all(
            (tp.topic, tp.partition) in self._stored for tp in data
        )

    async def _process(
        self, generation: int, data: dict[TopicPartition, list[Any]], batch: Batch, poison: Poison
    ) -> None:
        async with self._pg_lock:
            consumer = self._consumer
            assert consumer is not None
            if generation != self._generation:
                await self._reseek()
                return
            unsought = {tp for tp in data if (tp.topic, tp.partition) not in self._stored}
            if unsought:
                # Fetched before the assignment callback sought them: read from Postgres's view.
                assigned = unsought & set(consumer.assignment())
                if assigned:
                    await self._seek(assigned)
                return
            if batch.records:
                await self._write(batch, poison, data)

    # --- batches -------------------------------------------------------------------------
    def _isolation(
        self, batch: Batch, poison: Poison, data: dict[TopicPartition, list[Any]]
    ) -> Isolation:
        """What to write again, record by record if need be, should Postgres refuse a row."""
        dead = {(m.topic, m.partition, m.offset) for m, _ in poison}
        units: dict[TopicPartition, list[Any]] = {}
        for tp, msgs in data.items():
            floor = self._next.get((tp.topic, tp.partition))
            keep = [
                m
                for m in msgs
                if (floor is None or m.offset >= floor)
                and (m.topic, m.partition, m.offset) not in dead
            ]
            if keep:
                units[tp] = keep
        return Isolation(
            self.schema, batch, units, lambda part: build_batch(part, self._decoder, {})[0]
        )

    async def _write(
        self, batch: Batch, poison: Poison, data: dict[TopicPartition, list[Any]]
    ) -> None:
        batch.dlq = [(m.topic, m.partition, m.offset, e) for m, e in poison]
        isolation = self._isolation(batch, poison, data)

        async def send_dlq() -> None:
            dead = poison + isolation.refused
            if dead:
                assert self._producer is not None
                await send_to_dlq(self._producer, dead)

        started = time.perf_counter()
        try:
            conn = await self._pg.get()
            written = await write_batch(
                conn,
                self.schema,
                self.group,
                self.cluster_id,
                batch,
                self._stored,
                send_dlq,
                self._sent.set,
                isolation,
            )
        except OffsetsMovedError as exc:
            log.warning("sink_offsets_moved", detail=str(exc))
            await self._reseek()
            return
        except PG_UNAVAILABLE as exc:
            metrics.SINK_RETRIES.inc()
            log.warning("sink_postgres_unavailable", error=type(exc).__name__, detail=str(exc))
            self._pg.drop()
            await self._reseek()  # resume from what Postgres holds; this batch is fetched again
            return
        elapsed = time.perf_counter() - started
        for tp, next_offset in batch.offsets.items():
            self._stored[tp] = (self.cluster_id, next_offset)
            self._next[tp] = next_offset
        for table, n in written.items():
            metrics.SINK_ROWS.labels(table=table).inc(n)
        metrics.SINK_BATCH_ROWS.observe(batch.row_count())
        metrics.SINK_BATCH_SECONDS.observe(elapsed)
        metrics.SINK_LAST_COMMIT.set(time.time())
        self.batches += 1

    def _update_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        behind: dict[str, int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            stored = self._stored.get((tp.topic, tp.partition))
            if high is None or stored is None or stored[0] != self.cluster_id:
                continue
            behind[tp.topic] = behind.get(tp.topic, 0) + max(0, high - stored[1])
        for topic, n in behind.items():
            metrics.SINK_OFFSETS_BEHIND.labels(topic=topic).set(n)

    # --- Postgres and offsets ------------------------------------------------------------
    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        if not assigned:
            return
        cluster_id = await fetch_cluster_id(self.settings.kafka)
        if cluster_id != self.cluster_id:
            log.warning("sink_new_cluster", old=self.cluster_id, new=cluster_id)
            self.cluster_id = cluster_id
        consumer = self._consumer
        assert consumer is not None
        counts = {tp.topic: len(consumer.partitions_for_topic(tp.topic) or ()) for tp in assigned}
        async with self._pg_lock:
            await self._pg.retrying(self._record_topics, counts)
            await self._seek(assigned)

    async def _record_topics(self, counts: dict[str, int]) -> None:
        changelogs = {t for t in counts if t not in APPEND_TABLES}
        await record_topics(
            await self._pg.get(), self.schema, self.group, self.cluster_id, counts, changelogs
        )

    async def _load_offsets(self, tps: list[TopicPartition]) -> dict[tuple[str, int], StoredOffset]:
        keys = [(tp.topic, tp.partition) for tp in tps]
        return await load_offsets(await self._pg.get(), self.schema, self.group, keys)

    async def _seek(self, tps: set[TopicPartition]) -> None:
        """Seek to the offsets Postgres holds; partitions of another cluster start over."""
        consumer = self._consumer
        assert consumer is not None
        stored = await self._pg.retrying(self._load_offsets, list(tps))
        self._generation += 1
        from_start = []
        for tp in tps:
            row = stored.get((tp.topic, tp.partition))
            self._stored[(tp.topic, tp.partition)] = row
            if row is not None and row[0] == self.cluster_id:
                consumer.seek(tp, row[1])
                self._next[(tp.topic, tp.partition)] = row[1]
            else:
                from_start.append(tp)
                self._next[(tp.topic, tp.partition)] = None
        if from_start:
            await consumer.seek_to_beginning(*from_start)
        log.info("sink_partitions_sought", partitions=len(tps), from_start=len(from_start))

    async def _reseek(self) -> None:
        assert self._consumer is not None
        assignment = set(self._consumer.assignment())
        if assignment:
            await self._seek(assignment)
