"""Helpers of the paper-exchange tests: routed orders, reading outputs, bounded waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.ids import paper_order_id
from schemas.records import Fill, OrderEvent, OrderIntent, OrderStatus, Record
from tests.factories import make_intent
from tests.harness import CODEC

__all__ = ["TopicReader", "fills_of", "routed", "statuses", "wait_for"]


def routed(**overrides: Any) -> OrderIntent:
    """A routed order as ``route_orders`` publishes it (venue paper, stage routed)."""
    overrides.setdefault("stage", "routed")
    overrides.setdefault("venue", "paper")
    return make_intent(**overrides)


class TopicReader:
    """Reads a topic from the beginning, incrementally, across calls (assigned, no group)."""

    def __init__(self, bootstrap: str, topic: str, record_type: type[Record] | None) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.record_type = record_type
        self.messages: list[Any] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def _start(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await consumer.start()
            await consumer.topics()
            parts = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            self._consumer = consumer
        return self._consumer

    async def poll(self) -> list[Any]:
        consumer = await self._start()
        batch = await consumer.getmany(timeout_ms=500)
        for msgs in batch.values():
            self.messages.extend(msgs)
        return self.messages

    async def until(self, count: int, timeout: float = 60.0) -> list[Any]:
        """Poll until ``count`` messages were read (or fail after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, (
                f"{self.topic}: {len(self.messages)} of {count} records after {timeout}s"
            )
            await self.poll()
        return self.messages

    def records(self) -> list[Any]:
        assert self.record_type is not None
        return [CODEC.decode(m.value, self.record_type) for m in self.messages]

    async def disconnect(self) -> None:
        """Drop the consumer (messages read so far stay); the next poll starts from the
        beginning of the topic as the broker then holds it (a replaced broker)."""
        await self.close()
        self._consumer = None

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()


async def wait_for(reader: TopicReader, predicate: Any, timeout: float = 60.0) -> None:
    """Poll ``reader`` until ``predicate(records)`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate(reader.records()):
        assert time.monotonic() < deadline, f"{reader.topic}: condition not met in {timeout}s"
        await reader.poll()
        await asyncio.sleep(0)


def statuses(events: Iterable[OrderEvent], intent: OrderIntent) -> list[OrderStatus]:
    """The venue statuses of one order, in seq order."""
    mine = [e for e in events if e.intent_id == intent.intent_id]
    return [e.status for e in sorted(mine, key=lambda e: e.seq)]


def fills_of(fills: Iterable[Fill], intent: OrderIntent) -> list[tuple[str, int, str]]:
    """(fill id, quantity, price) of one order's fills."""
    oid = paper_order_id(intent.intent_id)
    return [(f.fill_id, f.quantity, str(f.price)) for f in fills if f.broker_order_id == oid]
