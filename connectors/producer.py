"""A Kafka-native producer for ``OrderIntent``: confluent-kafka plus the Avro codec.

For producers inside the Kafka network that publish straight onto ``orders.intents.v1``
(keyed by account id, ``trace_id`` header), with delivery reports, usable from sync and
async code::

    with IntentProducer(settings) as producer:
        partition, offset = producer.send(intent)            # waits for the broker's ack
        future = producer.submit(intent)                     # concurrent.futures.Future
        partition, offset = await producer.send_async(intent)  # from asyncio

A poll thread serves delivery callbacks, so futures resolve without the caller polling. An
intent that breaks the contract's string and number rules (``streams.contract``, the same
rules as ``POST /v1/orders`` and ``tradepipe send``) raises ``InvalidInput`` and is not sent.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import Future
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from schemas.codec import AvroCodec
from schemas.records import OrderIntent
from schemas.registry import FileRegistry
from streams.contract import intent_problem
from streams.errors import BrokerUnavailable, InvalidInput
from streams.kafka import confluent_producer_config
from streams.settings import Settings
from streams.topics import INTENTS

__all__ = ["Delivery", "IntentProducer"]

Delivery = tuple[int, int]  # (partition, offset)


class IntentProducer:
    """Publishes ``OrderIntent`` records on ``orders.intents.v1`` with acks from all replicas."""

    def __init__(
        self,
        settings: Settings,
        *,
        topic: str = INTENTS,
        codec: AvroCodec | None = None,
        **overrides: Any,
    ) -> None:
        self.topic = topic
        conf = confluent_producer_config(settings, **overrides)
        self._producer = Producer(conf)
        self._encode = (codec or AvroCodec(FileRegistry())).encoder(topic, OrderIntent)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="intent-producer-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def submit(self, intent: OrderIntent) -> Future[Delivery]:
        """Enqueue ``intent``; the future resolves with its (partition, offset) or an error."""
        if not intent.trace_id:
            intent = intent.replace(trace_id=uuid.uuid4().hex)
        problem = intent_problem(intent)
        if problem is not None:
            raise InvalidInput(f"intent breaks the contract: {problem[0]}: {problem[1]}")
        future: Future[Delivery] = Future()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                future.set_exception(BrokerUnavailable(f"delivery failed: {err.str()}"))
            else:
                future.set_result((int(msg.partition() or 0), int(msg.offset() or 0)))

        try:
            value = self._encode(intent)
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidInput(f"intent does not fit the OrderIntent contract: {exc}") from exc
        try:
            self._producer.produce(
                self.topic,
                value=value,
                key=intent.account_id.encode(),
                headers=[("trace_id", intent.trace_id.encode())],
                on_delivery=delivered,
            )
        except BufferError as exc:
            raise BrokerUnavailable("producer queue is full; the broker is not keeping up") from exc
        except KafkaException as exc:
            raise BrokerUnavailable(f"produce refused: {exc}") from exc
        return future

    def send(self, intent: OrderIntent, timeout: float = 10.0) -> Delivery:
        """Publish and wait for the delivery report; ``BrokerUnavailable`` on failure/timeout."""
        try:
            return self.submit(intent).result(timeout)
        except TimeoutError as exc:
            raise BrokerUnavailable(f"no delivery report within {timeout} s") from exc

    async def send_async(self, intent: OrderIntent, timeout: float = 10.0) -> Delivery:  # noqa: ASYNC109 — mirrors send()
        """Publish from asyncio and await the delivery report."""
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self.submit(intent)), timeout)
        except TimeoutError as exc:
            raise BrokerUnavailable(f"no delivery report within {timeout} s") from exc

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for outstanding deliveries; the number still pending."""
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 10.0) -> None:
        """Flush and stop the poll thread."""
        self.flush(timeout)
        self._stop.set()
        self._poller.join(timeout=1.0)

    def __enter__(self) -> IntentProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
