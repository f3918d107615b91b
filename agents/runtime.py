"""The lean hot path shared by every agent: batches in, one outbox out.

A plain Faust agent pays Faust's per-event machinery twice (consume and ``topic.send``).
Here an agent takes events in batches (``take_events``), hands the decoded records to a
handler that appends its outputs to an ``Outbox``, and the outbox encodes them with cached
encoders and sends them straight to the producer, awaiting every ack before the batch is
done. Faust commits offsets only after flushing the producer, so this stays at-least-once.

If a batch fails, it is replayed one record at a time so that only the poison record goes to
the DLQ (DESIGN.md §6) and the rest are processed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiokafka.errors import KafkaError

from schemas.records import Record
from streams.app import Pipeline
from streams.faust_codec import send_to_dlq
from streams.metrics import PROCESSING_SECONDS, RECORDS_PROCESSED

__all__ = ["BatchHandler", "Outbox", "batched_agent"]

log = structlog.get_logger(__name__)


class Outbox:
    """Records to publish at the end of a batch: (topic, key, record, trace id)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._encoders: dict[tuple[str, type[Record]], Callable[[Any], bytes]] = {}
        self.items: list[tuple[str, bytes, Record]] = []

    def add(self, topic: str, key: bytes, record: Record) -> None:
        self.items.append((topic, key, record))

    def _encoder(self, topic: str, record_type: type[Record]) -> Callable[[Any], bytes]:
        enc = self._encoders.get((topic, record_type))
        if enc is None:
            enc = self._pipeline.codec.encoder(topic, record_type)
            self._encoders[(topic, record_type)] = enc
        return enc

    async def flush(self) -> int:
        """Encode and send everything added, waiting for the broker's acks."""
        if not self.items:
            return 0
        producer = self._pipeline.app.producer
        futures = []
        for topic, key, record in self.items:
            value = self._encoder(topic, type(record))(record)
            trace = getattr(record, "trace_id", "") or ""
            headers = [("trace_id", trace.encode())] if trace else None
            futures.append(await producer.send(topic, key, value, None, None, headers))
        count = len(self.items)
        self.items = []
        await asyncio.gather(*futures)
        return count


BatchHandler = Callable[[Sequence[Any], Outbox], Awaitable[None]]


def batched_agent(
    pipeline: Pipeline,
    name: str,
    source: str,
    handle: BatchHandler,
    *,
    max_batch: int = 1000,
    within: float = 0.005,
) -> Any:
    """Declare agent ``name`` on ``source``; ``handle(records, outbox)`` decides each batch."""
    app = pipeline.app
    processed = RECORDS_PROCESSED.labels(agent=name)
    timer = PROCESSING_SECONDS.labels(agent=name)

    async def run(stream: Any) -> None:
        outbox = Outbox(pipeline)
        async for events in stream.take_events(max_batch, within=within):
            started = time.perf_counter()
            try:
                await handle([e.value for e in events], outbox)
                elapsed = time.perf_counter() - started
                await outbox.flush()
            except KafkaError:
                raise  # the broker, not the record: fail and resume from committed offsets
            except Exception:  # noqa: BLE001 — isolate the poison record below
                outbox.items = []
                elapsed = await _one_by_one(app, name, events, handle, outbox)
            per_record = elapsed / len(events)
            for _ in events:
                timer.observe(per_record)
            processed.inc(len(events))

    run.__name__ = name
    return app.agent(pipeline.topic(source), name=name)(run)


async def _one_by_one(
    app: Any, name: str, events: Sequence[Any], handle: BatchHandler, outbox: Outbox
) -> float:
    """Process a failed batch record by record; dead-letter the ones that still fail."""
    elapsed = 0.0
    for event in events:
        started = time.perf_counter()
        try:
            await handle([event.value], outbox)
            elapsed += time.perf_counter() - started
            await outbox.flush()
        except KafkaError:
            raise
        except Exception as exc:  # noqa: BLE001 — the per-agent DLQ guard (STYLE.md)
            outbox.items = []
            msg = event.message
            await send_to_dlq(
                app, msg.topic, msg.partition, msg.offset, msg.key, msg.value, exc, name
            )
    return elapsed
