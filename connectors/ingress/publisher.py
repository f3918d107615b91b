"""Kafka side of the ingress: intents and control commands acknowledged, audit best effort.

The producer is aiokafka with ``acks=all`` (``streams.kafka.aiokafka_producer``), so an
acknowledgement means the in-sync replicas have the record. It is started in the background
and retried with backoff, so the ingress comes up (and answers 503) while Kafka is away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.codec import AvroCodec
from schemas.records import AuditEvent, ControlCommand, OrderIntent
from schemas.registry import FileRegistry
from streams import metrics
from streams.errors import BrokerUnavailable
from streams.kafka import aiokafka_producer, trace_headers
from streams.settings import Settings
from streams.topics import AUDIT, CONTROL, INTENTS

__all__ = ["KafkaPublisher", "Written"]

log = structlog.get_logger(__name__)

Written = tuple[int, int]  # (partition, offset)


class KafkaPublisher:
    """Publishes intents, control commands and audit events for the ingress."""

    def __init__(self, settings: Settings, codec: AvroCodec | None = None) -> None:
        self.settings = settings
        self.timeout_s = settings.ingress.produce_timeout_s
        codec = codec or AvroCodec(FileRegistry())
        self._encode_intent = codec.encoder(INTENTS, OrderIntent)
        self._encode_command = codec.encoder(CONTROL, ControlCommand)
        self._encode_audit = codec.encoder(AUDIT, AuditEvent)
        self._producer: AIOKafkaProducer | None = None
        self._starter: asyncio.Task[None] | None = None
        self._audit_pending: set[asyncio.Future[object]] = set()

    @property
    def ready(self) -> bool:
        """True once the producer is connected."""
        return self._producer is not None

    async def start(self) -> None:
        """Begin connecting in the background (returns at once)."""
        if self._starter is None:
            self._starter = asyncio.create_task(self._connect(), name="ingress-kafka-connect")

    async def wait_ready(self, within_s: float) -> bool:
        """Wait up to ``within_s`` seconds for the producer to connect."""
        if self._starter is None:
            return self.ready
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._starter), within_s)
        return self.ready

    async def _connect(self) -> None:
        delay = 0.2
        timeout_ms = int(self.timeout_s * 1000)
        while True:
            producer = aiokafka_producer(
                self.settings, request_timeout_ms=timeout_ms, client_id="tradepipe-ingress"
            )
            try:
                await producer.start()
            except (KafkaError, OSError) as exc:
                log.warning("ingress_kafka_connect_failed", error=repr(exc), retry_in_s=delay)
                with contextlib.suppress(KafkaError, OSError):
                    await producer.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._producer = producer
            log.info("ingress_kafka_connected", bootstrap=self.settings.kafka.bootstrap_servers)
            return

    async def stop(self) -> None:
        """Flush what is pending (audit included) and close."""
        if self._starter is not None and not self._starter.done():
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        if self._producer is not None:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(self._producer.stop(), self.timeout_s)
            self._producer = None

    def _require(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise BrokerUnavailable("Kafka is not connected")
        return self._producer

    async def _send_all(
        self, topic: str, items: Sequence[tuple[str, bytes]], trace_id: str
    ) -> list[Written]:
        producer = self._require()
        headers = trace_headers(trace_id)
        try:
            async with asyncio.timeout(self.timeout_s):
                futures = [
                    await producer.send(topic, value, key=key.encode(), headers=headers)
                    for key, value in items
                ]
                results = await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(f"Kafka did not acknowledge: {exc.__class__.__name__}") from exc
        return [(r.partition, r.offset) for r in results]

    async def publish_intents(self, intents: Sequence[OrderIntent], trace_id: str) -> list[Written]:
        """Write intents keyed by account and wait for every ack; ``BrokerUnavailable`` if not."""
        items = [(i.account_id, self._encode_intent(i)) for i in intents]
        return await self._send_all(INTENTS, items, trace_id)

    async def publish_command(self, command: ControlCommand) -> Written:
        """Write a control command and wait for its ack."""
        items = [(command.account_id, self._encode_command(command))]
        return (await self._send_all(CONTROL, items, command.trace_id))[0]

    async def publish_audit(self, event: AuditEvent, *, wait: bool = False) -> None:
        """Enqueue an audit event; never blocks longer than ``audit_timeout_s``.

        Best effort: when Kafka is away or the producer's buffer is full the event is
        dropped, counted (``tradepipe_ingress_audit_dropped_total``) and logged. With
        ``wait`` the broker's ack is awaited (kill switch, key changes).
        """
        producer = self._producer
        if producer is None:
            self._dropped(event, "not_connected")
            return
        key = (event.account_id or event.actor).encode()
        try:
            async with asyncio.timeout(self.settings.ingress.audit_timeout_s):
                future = await producer.send(
                    AUDIT, self._encode_audit(event), key=key, headers=trace_headers(event.trace_id)
                )
        except (KafkaError, OSError, TimeoutError):
            self._dropped(event, "enqueue_failed")
            return
        if wait:
            try:
                await asyncio.wait_for(future, self.timeout_s)
            except (KafkaError, OSError, TimeoutError):
                self._dropped(event, "not_acknowledged")
            return
        self._audit_pending.add(future)
        future.add_done_callback(self._audit_done)

    def _audit_done(self, future: asyncio.Future[object]) -> None:
        self._audit_pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            metrics.INGRESS_AUDIT_DROPPED.labels(reason="not_acknowledged").inc()

    @staticmethod
    def _dropped(event: AuditEvent, reason: str) -> None:
        metrics.INGRESS_AUDIT_DROPPED.labels(reason=reason).inc()
        log.warning("ingress_audit_dropped", action=event.action, actor=event.actor, reason=reason)
