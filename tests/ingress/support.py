"""Helpers for ingress tests that read what the ingress wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.settings import Settings

__all__ = ["read_topic"]


async def read_topic(
    settings: Settings, topic: str, want: Callable[[list[Any]], bool], within_s: float = 15.0
) -> list[Any]:
    """Records of ``topic`` from the beginning until ``want(records)`` or ``within_s``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not parts:
            parts = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        records: list[Any] = []
        deadline = asyncio.get_running_loop().time() + within_s
        while not want(records) and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for items in batch.values():
                records.extend(items)
        return records
    finally:
        await consumer.stop()
