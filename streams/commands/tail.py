"""``tradepipe tail TOPIC``: decoded records as JSON lines."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Annotated, Any

import typer

from schemas.contracts import value_type_for
from streams.errors import BrokerUnavailable, InvalidInput
from streams.jsonlines import dumps_line
from streams.settings import get_settings

__all__ = ["tail", "tail_records"]


def _record_line(codec: Any, record_type: Any, msg: Any) -> dict[str, Any]:
    from streams.errors import DecodeError

    line: dict[str, Any] = {
        "topic": msg.topic,
        "partition": msg.partition,
        "offset": msg.offset,
        "timestamp_ms": msg.timestamp,
        "key": msg.key,
        "headers": dict(msg.headers or ()),
    }
    try:
        line["value"] = codec.decode_dict(msg.value, record_type) if record_type else msg.value
    except DecodeError as exc:
        line["value"] = msg.value
        line["decode_error"] = str(exc)
    return line


async def tail_records(
    topic: str, *, from_beginning: bool, limit: int | None, follow: bool, out: Any = sys.stdout
) -> int:
    """Print records of ``topic``; returns how many were printed."""
    from aiokafka import TopicPartition
    from aiokafka.errors import KafkaError

    from streams.app import make_codec
    from streams.kafka import aiokafka_consumer

    settings = get_settings()
    dlq = topic.endswith(".dlq")
    try:
        record_type = None if dlq else value_type_for(topic)
    except KeyError:
        raise InvalidInput(f"unknown topic {topic}; `tradepipe topics list` shows them") from None
    codec = make_codec(settings)
    consumer = aiokafka_consumer(settings, group_id=None, request_timeout_ms=10_000)
    printed = 0
    try:
        await asyncio.wait_for(consumer.start(), 15)
        names = await consumer.topics()
        if topic not in names:
            raise InvalidInput(
                f"topic {topic} does not exist on {settings.kafka.bootstrap_servers}"
            )
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        elif follow and limit is None:
            await consumer.seek_to_end(*tps)
        else:
            # Like tail(1): the last few records of each partition, then stop (or follow).
            starts = await consumer.beginning_offsets(tps)
            back = limit or 10
            for tp in tps:
                consumer.seek(tp, max(starts[tp], ends[tp] - back))
        extra_polls = 0
        while limit is None or printed < limit:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            for msg in (m for msgs in batch.values() for m in msgs):
                if limit is not None and printed >= limit:
                    break
                out.write(dumps_line(_record_line(codec, record_type, msg)) + "\n")
                printed += 1
            out.flush()
            if follow:
                continue
            # Without --follow: stop at the end offsets seen at the start. They can read low
            # by one batch on the embedded broker (docs/embedded-broker.md #3), so poll once
            # more after reaching them.
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                extra_polls += 1
                if extra_polls > 1:
                    break
    except (KafkaError, TimeoutError, OSError) as exc:
        raise BrokerUnavailable(
            f"cannot read from {settings.kafka.bootstrap_servers}: {exc or type(exc).__name__}"
        ) from exc
    finally:
        await consumer.stop()
    return printed


def tail(
    topic: Annotated[str, typer.Argument(help="topic name, e.g. orders.events.v1")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", "-b", help="start at the oldest record")
    ] = False,
    n: Annotated[
        int | None, typer.Option("-n", help="at most N records (default: the last 10)")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="keep waiting for new records")
    ] = False,
) -> None:
    """Print decoded records of TOPIC as JSON lines."""
    # Ctrl-C is how --follow ends (exit 0); any other tail it interrupts (exit 130).
    with contextlib.suppress(*((KeyboardInterrupt,) if follow else ())):
        asyncio.run(tail_records(topic, from_beginning=from_beginning, limit=n, follow=follow))
