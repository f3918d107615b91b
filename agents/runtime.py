"""The lean hot path shared by every agent: batches in, one outbox out, one table write per key.

A plain Faust agent pays Faust's per-event machinery twice (consume and ``topic.send``).
Here an agent takes events in batches (``take_events``) and hands them to a handler that
decides the whole batch against state loaded once per key (``Batch.load``), appends its
outputs to the batch's ``Outbox`` and marks the state it changed (``Batch.dirty``).

``Batch.commit`` then, in this order: sends the first phase of outputs and awaits every
ack; sends the second phase (venue orders: they must never reach the venue before the
ROUTED event is durable) and awaits it; only then writes each changed key once to its table
and changelog, on the partition of the input record that changed it (a batch mixes
partitions, so Faust's "current event" would name the wrong one). Faust commits offsets
after the batch, so a crash anywhere replays input whose outputs may already exist: every
output has a deterministic id and every consumer dedupes (docs/guarantees.md), and state is never
ahead of the outputs it implies.

Outputs go through the worker's own batched confluent-kafka producer (``OutboxProducer``); Faust's
producer keeps ``producer_max_batch_size=1`` for the changelogs on the embedded broker
(docs/embedded-broker.md #3), which would make every output its own produce request.

A worker-wide lock serialises batches of all agents, because several agents change the same
account's risk state and a batch yields while it awaits acks. If a batch fails it is
replayed one record at a time, so that only the poison record goes to the DLQ.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.errors import KafkaError

from agents.replay_gate import ReplayGate, replay_gate
from schemas.records import Record
from streams.app import Pipeline
from streams.errors import BrokerUnavailable
from streams.faust_codec import send_to_dlq
from streams.kafka import confluent_producer_config
from streams.metrics import PROCESSING_SECONDS, RECORDS_PROCESSED
from streams.topics import FILLS, ORDER_EVENTS

__all__ = [
    "Batch",
    "BatchHandler",
    "Incoming",
    "Outbox",
    "OutboxProducer",
    "StateCache",
    "batched_agent",
    "new_batch",
    "worker_cache",
    "worker_lock",
]

log = structlog.get_logger(__name__)

Decoder = Callable[[Any], Any]
Encoder = Callable[[Any], Any]


class OutboxProducer:
    """The worker's batched producer for agent outputs (started by an app task).

    A confluent-kafka (librdkafka) producer: ``produce`` only appends to librdkafka's queue
    (a few µs, no asyncio future per record), librdkafka batches and sends from its own
    threads, and ``flush`` (run in a thread, off the event loop) waits for every
    acknowledgement. aiokafka's producer cost the worker ~40 % of its CPU here in futures,
    accumulator and sender bookkeeping per record (docs/performance.md)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._producer: Any = None
        self._changelog: Any = None
        self._ready = asyncio.Event()
        self._errors: list[str] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-flush")

    async def start(self) -> None:
        """Create the producer (acks=all, batched with the configured linger)."""
        from confluent_kafka import Producer

        settings = self._pipeline.settings
        self._producer = Producer(confluent_producer_config(settings))
        self._changelog = self._producer
        if self._pipeline.app.conf.producer_max_batch_size == 1:
            # Table changelogs in one-record batches, as Faust's own producer is configured
            # for table owners on the embedded broker (docs/embedded-broker.md #3).
            self._changelog = Producer(
                confluent_producer_config(settings, **{"batch.num.messages": 1})
            )
        self._ready.set()

    async def stop(self) -> None:
        """Flush and close."""
        loop = asyncio.get_running_loop()
        for producer in {id(p): p for p in (self._producer, self._changelog) if p}.values():
            await loop.run_in_executor(self._executor, producer.flush, min(10.0, _ACK_TIMEOUT_S))
        self._producer = self._changelog = None
        self._executor.shutdown(wait=False)

    async def get(self) -> Any:
        """The started producer (waits for ``start``)."""
        await self._ready.wait()
        assert self._producer is not None
        return self._producer

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self._errors.append(str(err))

    async def send_all(self, records: Sequence[tuple[str, bytes, bytes, Any]]) -> None:
        """Produce ``(topic, key, value, headers)`` records and wait for every ack.

        Raises ``BrokerUnavailable`` if one was not acknowledged: the batch then fails and
        resumes from the committed offsets."""
        producer = await self.get()
        await self._produce_all(producer, ((t, v, k, {"headers": h}) for t, k, v, h in records))

    async def send_changelog(self, records: Sequence[tuple[str, int, bytes, bytes]]) -> None:
        """Produce ``(changelog topic, partition, key, value)`` table writes, wait for acks.

        Faust flushes its own producer before it commits offsets; these writes are
        acknowledged before the batch returns, so before its offsets can be committed."""
        await self.get()
        await self._produce_all(
            self._changelog, ((t, v, k, {"partition": p}) for t, p, k, v in records)
        )

    async def _produce_all(
        self, producer: Any, records: Iterable[tuple[str, bytes, bytes, dict[str, Any]]]
    ) -> None:
        """Queue every record (a plain loop: no await per record), then flush."""
        loop = asyncio.get_running_loop()
        for topic, value, key, extra in records:
            while True:
                try:
                    producer.produce(topic, value, key, on_delivery=self._delivered, **extra)
                    break
                except BufferError:  # librdkafka's queue is full: let it drain
                    await loop.run_in_executor(self._executor, producer.poll, 0.05)
        await self._flush(producer)

    async def _flush(self, producer: Any) -> None:
        loop = asyncio.get_running_loop()
        left = await loop.run_in_executor(self._executor, producer.flush, _ACK_TIMEOUT_S)
        errors, self._errors = self._errors, []
        if left or errors:
            detail = errors[0] if errors else f"{left} records unacknowledged"
            raise BrokerUnavailable(f"outbox produce failed: {detail}")


class Outbox:
    """Records to publish at the end of a batch, in two phases."""

    def __init__(self, pipeline: Pipeline, producer: OutboxProducer) -> None:
        self._pipeline = pipeline
        self.producer = producer
        self._encoders: dict[tuple[str, type[Record]], Callable[[Any], bytes]] = {}
        self.items: list[tuple[str, bytes, Record]] = []
        self.late: list[tuple[str, bytes, Record]] = []

    def add(self, topic: str, key: bytes, record: Record) -> None:
        """Publish ``record`` in the first phase."""
        self.items.append((topic, key, record))

    def add_late(self, topic: str, key: bytes, record: Record) -> None:
        """Publish ``record`` only once every first-phase record is acknowledged."""
        self.late.append((topic, key, record))

    def clear(self) -> None:
        """Forget everything added."""
        self.items = []
        self.late = []

    def _encoder(self, topic: str, record_type: type[Record]) -> Callable[[Any], bytes]:
        enc = self._encoders.get((topic, record_type))
        if enc is None:
            enc = self._pipeline.codec.encoder(topic, record_type)
            self._encoders[(topic, record_type)] = enc
        return enc

    async def _send(self, items: list[tuple[str, bytes, Record]]) -> None:
        if not items:
            return
        records = []
        for topic, key, record in items:
            value = self._encoder(topic, type(record))(record)
            trace = getattr(record, "trace_id", "") or ""
            headers = [("trace_id", trace.encode())] if trace else None
            records.append((topic, key, value, headers))
        await self.producer.send_all(records)

    async def flush(self) -> int:
        """Send both phases, waiting for the broker's acks; returns how many records."""
        items, late = self.items, self.late
        self.clear()
        await self._send(items)
        await self._send(late)
        return len(items) + len(late)


@dataclass(slots=True)
class Incoming:
    """One decoded input record and the partition it came from."""

    value: Any
    partition: int
    offset: int


class StateCache:
    """Decoded table values kept between batches (decoding a whole account per batch would
    dominate the hot path). Emptied on every rebalance: recovery may then change the table."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Any] = {}
        # bumped on clear: a batch that started before a rebalance must not refill the cache
        self.generation = 0

    async def clear(self, *_: Any, **__: Any) -> None:
        """Forget everything (a Faust rebalance signal receiver)."""
        self.objects.clear()
        self.generation += 1


class Batch:
    """One batch's outputs and state: each table key is loaded once and written once."""

    def __init__(
        self, pipeline: Pipeline, producer: OutboxProducer, cache: StateCache | None = None
    ) -> None:
        self.outbox = Outbox(pipeline, producer)
        self._shared = cache if cache is not None else StateCache()
        self._generation = self._shared.generation
        self._cache: dict[tuple[str, str], Any] = {}
        self._dirty: dict[tuple[str, str], tuple[Any, int, Encoder]] = {}

    def load(self, table: Any, key: str, decode: Decoder, default: Callable[[], Any]) -> Any:
        """The state of ``key`` in ``table`` (decoded once; mutate it in place)."""
        ck = (table.name, key)
        try:
            return self._cache[ck]
        except KeyError:
            obj = None
            if self._generation == self._shared.generation:
                obj = self._shared.objects.get(ck)
            if obj is None:
                raw = table.data.get(key)
                obj = default() if raw is None else decode(raw)
            self._cache[ck] = obj
            return obj

    def discard(self) -> None:
        """A failed batch: whatever it loaded may be half-changed; decode it afresh next time."""
        for ck in self._cache:
            self._shared.objects.pop(ck, None)
        self._cache = {}
        self._dirty = {}
        self.outbox.clear()

    def put(self, table: Any, key: str, partition: int, obj: Any, encode: Encoder) -> None:
        """Replace ``key``'s state with ``obj`` (immutable values) and write it on commit."""
        self._cache[(table.name, key)] = obj
        self.dirty(table, key, partition, encode)

    def dirty(self, table: Any, key: str, partition: int, encode: Encoder) -> None:
        """Write ``key``'s (loaded, mutated) state back on commit, to ``partition``."""
        self._dirty[(table.name, key)] = (table, partition, encode)

    async def commit(self) -> int:
        """Publish the outputs (acks awaited), then write the changed state (acks awaited)."""
        sent = await self.outbox.flush()
        # the validation table marks an intent as done: write it after everything else
        order = sorted(self._dirty.items(), key=lambda item: item[0][0] == "validation")
        writes = []
        for (_, key), (table, partition, encode) in order:
            value = encode(self._cache[(table.name, key)])
            table.data[key] = value
            topic = table.changelog_topic
            raw_key, _ = topic.prepare_key(key, table.key_serializer)
            raw_value, _ = topic.prepare_value(value, table.value_serializer)
            writes.append((topic.get_topic_name(), partition, raw_key, raw_value))
        if writes:
            await self.outbox.producer.send_changelog(writes)
        if self._generation == self._shared.generation:
            self._shared.objects.update(self._cache)
        self._dirty = {}
        self._cache = {}
        return sent


BatchHandler = Callable[[Sequence[Incoming], Batch], Awaitable[None]]

_ACK_TIMEOUT_S = 30.0
"""How long a batch waits for the broker to acknowledge its outputs before it fails."""
_BROKER_ERRORS = (KafkaError, BrokerUnavailable)

# Topics whose replays after a restart change the state intents are decided on.
REPLAYED_TOPICS = frozenset({FILLS, ORDER_EVENTS})

_LOCKS: dict[int, asyncio.Lock] = {}
_CACHES: dict[int, StateCache] = {}


def worker_lock(pipeline: Pipeline) -> asyncio.Lock:
    """The lock every agent of this worker holds while it decides and commits a batch."""
    lock = _LOCKS.get(id(pipeline))
    if lock is None:
        lock = _LOCKS[id(pipeline)] = asyncio.Lock()
    return lock


def worker_cache(pipeline: Pipeline) -> StateCache:
    """The worker's decoded-state cache, emptied on every partition assignment or revocation."""
    cache = _CACHES.get(id(pipeline))
    if cache is None:
        cache = _CACHES[id(pipeline)] = StateCache()
        pipeline.app.on_partitions_revoked.connect(cache.clear)
        pipeline.app.on_partitions_assigned.connect(cache.clear)
    return cache


def new_batch(pipeline: Pipeline, producer: OutboxProducer) -> Batch:
    """A batch on the worker's shared state cache."""
    return Batch(pipeline, producer, worker_cache(pipeline))


def batched_agent(
    pipeline: Pipeline,
    name: str,
    source: str,
    handle: BatchHandler,
    producer: OutboxProducer,
    *,
    timed: bool = True,
    gate: ReplayGate | None = None,
) -> Any:
    """Declare agent ``name`` on ``source``; ``handle(records, batch)`` decides each batch.

    ``timed=False``: the handler observes its own per-stage processing time. ``gate``: wait
    (outside the worker lock) until replays are re-applied before deciding a batch; every
    agent reports what it finished to the worker's gate."""
    app = pipeline.app
    progress = replay_gate(app, REPLAYED_TOPICS)
    conf = pipeline.settings.agents
    processed = RECORDS_PROCESSED.labels(agent=name)
    timer = PROCESSING_SECONDS.labels(agent=name)
    lock = worker_lock(pipeline)

    async def run(stream: Any) -> None:
        async for events in stream.take_events(conf.max_batch, within=conf.batch_within_s):
            inputs = [Incoming(e.value, e.message.partition, e.message.offset) for e in events]
            if gate is not None:
                await gate.wait()
            async with lock:
                batch = new_batch(pipeline, producer)
                started = time.perf_counter()
                try:
                    await handle(inputs, batch)
                    elapsed = time.perf_counter() - started
                    await batch.commit()
                except _BROKER_ERRORS:
                    batch.discard()
                    raise  # the broker, not the record: fail and resume from committed offsets
                except Exception:  # noqa: BLE001 — isolate the poison record below
                    batch.discard()
                    elapsed = await _one_by_one(pipeline, name, events, inputs, handle, producer)
            for item in inputs:
                progress.advance(source, item.partition, item.offset + 1)
            if timed:
                per_record = elapsed / len(events)
                for _ in events:
                    timer.observe(per_record)
            processed.inc(len(events))

    run.__name__ = name
    return app.agent(pipeline.topic(source), name=name)(run)


async def _one_by_one(
    pipeline: Pipeline,
    name: str,
    events: Sequence[Any],
    inputs: Sequence[Incoming],
    handle: BatchHandler,
    producer: OutboxProducer,
) -> float:
    """Process a failed batch record by record; dead-letter the ones that still fail."""
    elapsed = 0.0
    for event, item in zip(events, inputs, strict=True):
        batch = new_batch(pipeline, producer)
        started = time.perf_counter()
        try:
            await handle([item], batch)
            elapsed += time.perf_counter() - started
            await batch.commit()
        except _BROKER_ERRORS:
            batch.discard()
            raise
        except Exception as exc:  # noqa: BLE001 — the one per-agent DLQ guard
            batch.discard()
            msg = event.message
            log.warning("agent_record_failed", agent=name, error=repr(exc)[:300])
            await send_to_dlq(
                pipeline.app, msg.topic, msg.partition, msg.offset, msg.key, msg.value, exc, name
            )
    return elapsed
