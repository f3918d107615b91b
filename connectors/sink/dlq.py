"""Dead-lettering: a poison record goes to ``<topic>.dlq`` with why and where it came from.

Headers in the one dialect of every writer (``streams.dlq``); the sink's reasons are
``"<code>: <detail>"`` strings (``connectors.sink.batching.Poison``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka.errors import KafkaError  # type: ignore[import-untyped,unused-ignore]  # no type information

from schemas.contracts import dlq_topic
from streams import metrics
from streams.dlq import refusal_headers
from streams.errors import BrokerUnavailable

__all__ = ["AGENT", "send_to_dlq", "split_reason"]

log = structlog.get_logger(__name__)

AGENT = "sink"
"""The ``agent`` header of the sink's DLQ records."""


def split_reason(reason: str) -> tuple[str, str]:
    """``"<code>: <detail>"`` → (code, the whole reason)."""
    code = reason.split(":", 1)[0].strip() or "unknown"
    return code, reason


async def send_to_dlq(producer: Any, poison: list[tuple[Any, str]]) -> None:
    """Send each (record, reason) with its original key and bytes; wait for every ack."""
    try:
        futures = []
        for msg, reason in poison:
            code, error = split_reason(reason)
            headers = refusal_headers(code, error, msg.topic, msg.partition, msg.offset, AGENT)
            futures.append(
                await producer.send(
                    dlq_topic(msg.topic), key=msg.key, value=msg.value, headers=headers
                )
            )
        await asyncio.gather(*futures)
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot write to the DLQ: {exc}") from exc
    for msg, reason in poison:
        code, _ = split_reason(reason)
        metrics.DLQ_RECORDS.labels(topic=msg.topic, code=code).inc()
        log.warning(
            "sink_record_to_dlq",
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            error_code=code,
            error=reason,
        )
