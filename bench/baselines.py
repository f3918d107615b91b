"""Single-hop baselines for ``bench/pipeline.py``, measured on the pipeline's own broker.

* ``faust``: a plain Faust agent, topic A → topic B (raw bytes, no codec), in a child
  process (``python bench/baselines.py faust BOOTSTRAP SRC DST``), the settings of the
  pipeline's app (session timeout, linger) and the root logger at WARNING (docs/performance.md);
* ``raw``: an aiokafka consume → produce loop in this process (batched, linger 5 ms).

Each moves N pre-published 200-byte records; the rate is counted on the output topic from
its first record to its N-th.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer

from streams.procs import spawn, stop_process

__all__ = ["count_until", "faust_passthrough", "prepublish", "raw_loop"]

VALUE = b"x" * 200


def prepublish(bootstrap: str, topic: str, n: int) -> None:
    """N 200-byte records with 1,000 distinct keys (batched confluent producer)."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "partitioner": "murmur2_random"}
    )
    for i in range(n):
        while True:
            try:
                producer.produce(topic, VALUE, str(i % 1000).encode())
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def count_until(bootstrap: str, topic: str, n: int, timeout: float = 300.0) -> float:
    """Count records on ``topic`` from the beginning; msg/s from the first to the N-th."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-count-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([topic])
    seen, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + timeout
    try:
        while seen < n and time.monotonic() < deadline:
            msgs = consumer.consume(num_messages=2000, timeout=1.0)
            good = sum(1 for m in msgs if m.error() is None)
            if good:
                now = time.perf_counter()
                first = first or now
                last = now
                seen += good
    finally:
        consumer.close()
    return seen / (last - first) if last > first else 0.0


def faust_passthrough(bootstrap: str, src: str, dst: str, n: int, logs: Path) -> float:
    """Run the plain Faust agent in a child process; msg/s it moved."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    argv = [sys.executable, __file__, "faust", bootstrap, src, dst]
    proc = spawn(argv, log_file=logs / "faust-passthrough.log", env=env)
    try:
        return count_until(bootstrap, dst, n)
    finally:
        stop_process(proc, timeout=20)


async def _raw_loop(bootstrap: str, src: str, dst: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, acks="all", enable_idempotence=False
    )
    await consumer.start()
    await producer.start()
    moved, first = 0, 0.0
    try:
        while moved < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            futures = [
                await producer.send(dst, m.value, key=m.key)
                for msgs in batch.values()
                for m in msgs
            ]
            if futures:
                first = first or time.perf_counter()
                await asyncio.gather(*futures)
                moved += len(futures)
                await consumer.commit()
        return moved / (time.perf_counter() - first)
    finally:
        await consumer.stop()
        await producer.stop()


def raw_loop(bootstrap: str, src: str, dst: str, n: int) -> float:
    """The aiokafka consume → produce loop; msg/s."""
    return asyncio.run(_raw_loop(bootstrap, src, dst, n))


def _faust_main(bootstrap: str, src: str, dst: str) -> None:
    import faust

    logging.getLogger().setLevel(logging.WARNING)
    app = faust.App(
        f"bench-passthrough-{uuid.uuid4().hex[:6]}",
        broker=f"kafka://{bootstrap}",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        producer_linger=0.005,
        producer_acks=-1,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        store="memory://",
        web_enabled=False,
    )
    source = app.topic(src, key_serializer="raw", value_serializer="raw")
    sink = app.topic(dst, key_serializer="raw", value_serializer="raw")

    @app.agent(source)
    async def passthrough(stream: object) -> None:
        async for key, value in stream.items():  # type: ignore[attr-defined]
            await sink.send(key=key, value=value)

    worker = faust.Worker(app, loglevel="WARNING", quiet=True, override_logging=False)
    worker.execute_from_commandline()


if __name__ == "__main__" and sys.argv[1:2] == ["faust"]:
    _faust_main(*sys.argv[2:5])
