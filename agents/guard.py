"""The one per-agent guard: a record that cannot be processed goes to the DLQ, not the floor."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog

from streams.faust_codec import send_to_dlq
from streams.metrics import PROCESSING_SECONDS, RECORDS_PROCESSED

__all__ = ["guarded"]

log = structlog.get_logger(__name__)


async def guarded(
    app: Any,
    agent: str,
    events: AsyncIterator[Any],
    handle: Callable[[Any], Awaitable[None]],
) -> None:
    """Run ``handle`` on every event; on any failure, dead-letter the original bytes and go on."""
    processed = RECORDS_PROCESSED.labels(agent=agent)
    timer = PROCESSING_SECONDS.labels(agent=agent)
    async for event in events:
        started = time.perf_counter()
        try:
            await handle(event.value)
        except Exception as exc:  # noqa: BLE001 — the DLQ guard: poison must not stop the partition
            msg = event.message
            await send_to_dlq(
                app, msg.topic, msg.partition, msg.offset, msg.key, msg.value, exc, agent
            )
            continue
        timer.observe(time.perf_counter() - started)
        processed.inc()
