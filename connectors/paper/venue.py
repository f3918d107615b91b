"""``PaperExchange``: the paper exchange as a running process (no Faust).

One confluent-kafka consumer in group ``settings.paper.group_id`` over ``paper.orders.v1``
and ``md.ticks.v1`` with the range assignor, so the member owning partition ``p`` of one owns
``p`` of the other. Per batch (up to ``max_batch`` records, default fetch waits):

1. every record goes through ``PaperEngine`` into its partition's state and outbox;
2. partitions with output are snapshotted to Redis (books + next offsets + outbox), and
   tick-only progress at most every ``snapshot_interval_s``;
3. the outbox is produced (batched, linger) and flushed; every ack is checked;
4. the snapshots are marked acknowledged and the offsets committed (for lag only: on
   assignment the exchange seeks to its snapshot offsets, not to the committed ones).

So nothing is published that a restart could contradict: every emitted record belongs to a
snapshot whose books already include its effect (``docs/paper-exchange.md``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from connectors.instruments import InstrumentMaster
from connectors.paper.engine import AGENT, INPUT_TOPICS, PaperEngine
from connectors.paper.state import PartitionState, RedisSnapshotStore, snapshot_scope
from connectors.paper_exchange import PaperConfig
from schemas.codec import AvroCodec
from streams.errors import BrokerUnavailable
from streams.kafka import confluent_producer_config, confluent_security
from streams.metrics import (
    PAPER_BATCH_SECONDS,
    PAPER_RESTING_ORDERS,
    PAPER_SNAPSHOT_SECONDS,
    TICKS_PROCESSED,
)
from streams.service import AsyncService
from streams.settings import Settings

__all__ = ["PaperExchange"]

log = structlog.get_logger(__name__)


class PaperExchange(AsyncService):
    """The paper venue: ``async with PaperExchange(settings, codec, master): await ex.wait()``."""

    def __init__(self, settings: Settings, codec: AvroCodec, instruments: InstrumentMaster) -> None:
        self.settings = settings
        paper = settings.paper
        self.engine = PaperEngine(codec, instruments, PaperConfig(slippage_bps=paper.slippage_bps))
        self.states: dict[int, PartitionState] = {}
        self.store = RedisSnapshotStore(
            settings.redis.url.get_secret_value(), settings.redis.key_prefix
        )
        self._scope = ""
        self._stop = threading.Event()
        self._thread_done: asyncio.Future[None] | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._delivery_error: KafkaError | None = None
        self._last_snapshot = time.monotonic()

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Join the group and start consuming in a background thread."""
        kafka = self.settings.kafka
        self._consumer = Consumer(
            {
                "bootstrap.servers": kafka.bootstrap_servers,
                "group.id": self.settings.paper.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "range",
                "fetch.min.bytes": kafka.fetch_min_bytes,
                "session.timeout.ms": int(kafka.session_timeout_s * 1000),
                "heartbeat.interval.ms": int(kafka.heartbeat_interval_s * 1000),
                **confluent_security(kafka),
            }
        )
        self._producer = Producer(confluent_producer_config(self.settings))
        meta = self._consumer.list_topics(timeout=10)
        self._scope = snapshot_scope(str(meta.cluster_id), self.settings.paper.group_id)
        self._consumer.subscribe(
            list(INPUT_TOPICS), on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        self._thread_done = asyncio.get_running_loop().run_in_executor(None, self._run)
        log.info("paper_exchange_started", group=self.settings.paper.group_id, scope=self._scope)

    def request_stop(self) -> None:
        """Ask the consume loop to finish its batch and stop (safe from signal handlers)."""
        self._stop.set()

    async def wait(self) -> None:
        """Until the consume loop ends (``request_stop``) or fails."""
        if self._thread_done is not None:
            await self._thread_done

    async def stop(self) -> None:
        """Finish the current batch, snapshot, leave the group."""
        self.request_stop()
        try:
            await self.wait()
        finally:
            self.store.close()

    # -- consumer group ------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for p in sorted({tp.partition for tp in partitions}):
            state, acked = self.store.load(self._scope, p)
            if state is None:
                state = PartitionState(partition=p)
            resent = len(state.outbox) if not acked else 0
            if resent:
                self._produce(state.outbox)  # re-send what may not have reached the broker
                self._flush()
                self.store.mark_acked(self._scope, [state])
            state.outbox = []
            self.states[p] = state
            log.info(
                "partition_restored",
                partition=p,
                offsets=state.offsets,
                books=len(state.books),
                resting=state.resting(),
                resent=resent,
            )
        for tp in partitions:
            tp.offset = self.states[tp.partition].offsets.get(tp.topic, OFFSET_BEGINNING)
        consumer.assign(partitions)
        self._update_gauge()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        numbers = sorted({tp.partition for tp in partitions})
        gone = [self.states[p] for p in numbers if p in self.states]
        self._checkpoint(gone, force=True)
        for st in gone:
            self.states.pop(st.partition, None)
        consumer.unassign()
        self._update_gauge()

    # -- the loop ------------------------------------------------------------------------
    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        max_batch = self.settings.paper.max_batch
        try:
            while not self._stop.is_set():
                msgs = consumer.consume(num_messages=max_batch, timeout=1.0)
                if msgs:
                    self._process(msgs)
                self._checkpoint(list(self.states.values()), force=False)
            self._checkpoint(list(self.states.values()), force=True)
        finally:
            consumer.close()
            log.info("paper_exchange_stopped", fills=self.engine.fills)

    def _process(self, msgs: list[Any]) -> None:
        started = time.perf_counter()
        handle = self.engine.handle
        states = self.states
        ticks_before = self.engine.ticks_seen
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise BrokerUnavailable(f"consumer: {err}")
                log.warning("consume_error", error=str(err))
                continue
            state = states.get(msg.partition())
            if state is None:  # revoked while the batch was in flight
                continue
            handle(state, msg.topic(), msg.offset(), msg.key(), msg.value(), msg.timestamp()[1])
        PAPER_BATCH_SECONDS.observe(time.perf_counter() - started)
        TICKS_PROCESSED.labels(agent=AGENT).inc(self.engine.ticks_seen - ticks_before)

    def _checkpoint(self, states: list[PartitionState], *, force: bool) -> None:
        """Snapshot → produce → flush → mark acked → commit, for states that need it."""
        now = time.monotonic()
        periodic = force or now - self._last_snapshot >= self.settings.paper.snapshot_interval_s
        due = [s for s in states if s.outbox or (periodic and s.progressed)]
        if not due:
            return
        t0 = time.perf_counter()
        self.store.save(self._scope, due)
        PAPER_SNAPSHOT_SECONDS.observe(time.perf_counter() - t0)
        if periodic:
            self._last_snapshot = now
        sending = [s for s in due if s.outbox]
        for st in sending:
            self._produce(st.outbox)
        if sending:
            self._flush()
            self.store.mark_acked(self._scope, sending)
            for st in sending:
                st.outbox = []
        self._commit(due)
        self._update_gauge()

    # -- producing -----------------------------------------------------------------------
    def _on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self._delivery_error = err

    def _produce(self, outbox: list[Any]) -> None:
        producer = self._producer
        assert producer is not None
        for topic, key, value, headers in outbox:
            while True:
                try:
                    producer.produce(
                        topic, value, key, headers=headers or None, on_delivery=self._on_delivery
                    )
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.05)
        producer.poll(0)

    def _flush(self) -> None:
        producer = self._producer
        assert producer is not None
        remaining = producer.flush(30)
        if remaining or self._delivery_error is not None:
            raise BrokerUnavailable(
                f"paper exchange outputs not acknowledged: {self._delivery_error or remaining}"
            )

    def _commit(self, states: list[PartitionState]) -> None:
        consumer = self._consumer
        assert consumer is not None
        offsets = [
            TopicPartition(topic, st.partition, off)
            for st in states
            for topic, off in st.offsets.items()
        ]
        if offsets:
            consumer.commit(offsets=offsets, asynchronous=True)

    def _update_gauge(self) -> None:
        PAPER_RESTING_ORDERS.set(sum(s.resting() for s in self.states.values()))
