"""Dead-lettering: a poison record goes to ``<topic>.dlq`` with why and where it came from."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka.errors import KafkaError  # type: ignore[import-untyped,unused-ignore]  # no type information

from schemas.contracts import dlq_topic
from streams import metrics
from streams.errors import BrokerUnavailable

__all__ = ["send_to_dlq"]

log = structlog.get_logger(__name__)


async def send_to_dlq(producer: Any, poison: list[tuple[Any, str]]) -> None:
    """Send each (record, reason) with its original key and bytes; wait for every ack."""
    try:
        futures = [
            await producer.send(
                dlq_topic(msg.topic),
                key=msg.key,
                value=msg.value,
                headers=[
                    ("error", error.encode()),
                    ("source_topic", msg.topic.encode()),
                    ("partition", str(msg.partition).encode()),
                    ("offset", str(msg.offset).encode()),
                ],
            )
            for msg, error in poison
        ]
        await asyncio.gather(*futures)
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot write to the DLQ: {exc}") from exc
    for msg, error in poison:
        metrics.DLQ_RECORDS.labels(topic=msg.topic, code=error.split(":", 1)[0]).inc()
        log.warning(
            "sink_record_to_dlq",
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            error=error,
        )
