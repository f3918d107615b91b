"""The worker's outbox producer (confluent-kafka) on the real embedded broker."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiokafka.partitioner import DefaultPartitioner

from agents import runtime
from agents.runtime import OutboxProducer
from streams.app import build_pipeline
from streams.embedded import EmbeddedBroker
from streams.errors import BrokerUnavailable
from streams.settings import Settings
from streams.topics import ORDER_EVENTS, TopicSpec, ensure_topics
from tests.harness import collect

pytestmark = [pytest.mark.kafka]


async def test_outbox_records_are_acknowledged_on_the_partition_aiokafka_would_pick(
    kafka_broker: EmbeddedBroker, make_settings: Callable[..., Settings], unique: str
) -> None:
    # Arrange
    settings = make_settings(kafka_broker.bootstrap_servers)
    await ensure_topics(settings.kafka)
    topic = f"outbox-{unique}"
    await ensure_topics(settings.kafka, [TopicSpec(topic, settings.kafka.partitions, "test")])
    outbox = OutboxProducer(build_pipeline(settings))
    await outbox.start()
    keys = [f"ACC{n}".encode() for n in range(40)]
    # Act
    try:
        await outbox.send_all([(topic, key, b"v-" + key, [("trace_id", b"t")]) for key in keys])
    finally:
        await outbox.stop()
    # Assert: everything is there once, keyed where Faust's aiokafka clients put the key
    records = await collect(kafka_broker.bootstrap_servers, topic, len(keys), timeout=30)
    assert sorted(r.key for r in records) == sorted(keys)
    pick = DefaultPartitioner()
    all_partitions = list(range(settings.kafka.partitions))
    for record in records:
        assert record.partition == pick(record.key, all_partitions, all_partitions)
        assert record.value == b"v-" + record.key
        assert dict(record.headers)["trace_id"] == b"t"


async def test_outbox_raises_broker_unavailable_when_nothing_acknowledges(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: nothing listens on port 1
    monkeypatch.setattr(runtime, "_ACK_TIMEOUT_S", 1.0)
    outbox = OutboxProducer(build_pipeline(make_settings("127.0.0.1:1")))
    await outbox.start()
    # Act / Assert
    try:
        with pytest.raises(BrokerUnavailable, match=r"unacknowledged|failed"):
            await outbox.send_all([(ORDER_EVENTS, b"ACC1", b"x", None)])
    finally:
        await outbox.stop()
