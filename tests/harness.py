"""Test harness for pipeline processes: run ``tradepipe`` commands as subprocesses against a
broker, publish records, and collect what comes out of topics (bounded waits only)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.codec import AvroCodec
from schemas.records import Record
from schemas.registry import FileRegistry
from streams.procs import spawn, stop_process

__all__ = [
    "CODEC",
    "TradepipeProcess",
    "collect",
    "env_for",
    "group_behind",
    "sink_behind",
    "produce",
    "produce_raw",
]

CODEC = AvroCodec(FileRegistry())


def env_for(bootstrap: str, **extra: str) -> dict[str, str]:
    """Environment for a child ``tradepipe`` process (no stack file, JSON logs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    env.update(
        TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
        TRADEPIPE_LOG__JSON_OUTPUT="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class TradepipeProcess:
    """``python -m streams.cli ARGS`` as a child process, stopped (or killed) by the test."""

    def __init__(
        self, args: Iterable[str], env: Mapping[str, str], log_file: Path, cwd: Path | None = None
    ):
        self.argv = [sys.executable, "-m", "streams.cli", *args]
        self.env = dict(env)
        self.log_file = log_file
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> TradepipeProcess:
        self.proc = spawn(self.argv, log_file=self.log_file, env=self.env, cwd=self.cwd)
        return self

    def stop(self) -> int:
        assert self.proc is not None
        return stop_process(self.proc, timeout=20)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def __enter__(self) -> TradepipeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


async def produce(
    bootstrap: str, topic: str, records: Iterable[Record], key_field: str = "account_id"
) -> int:
    """Encode and publish records (acks=all); returns how many."""
    items = list(records)
    if not items:
        return 0
    encode = CODEC.encoder(topic, type(items[0]))
    pairs = [(str(getattr(r, key_field)).encode(), encode(r)) for r in items]
    return await produce_raw(bootstrap, topic, pairs)


async def produce_raw(
    bootstrap: str, topic: str, items: Iterable[tuple[bytes | None, bytes]]
) -> int:
    """Publish raw (key, value) pairs and wait for every ack."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, enable_idempotence=False
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in items]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def collect(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[Any]:
    """Read ``topic`` from the beginning until ``count`` records arrived or ``timeout`` passed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] = set()
        while not partitions and time.monotonic() < deadline:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while len(out) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                out.extend(msgs)
        return out
    finally:
        await consumer.stop()


async def group_behind(bootstrap: str, group: str, topics: Iterable[str]) -> dict[str, int]:
    """Partitions of ``topics`` whose committed offset in ``group`` is short of the end offset,
    as ``{"topic[partition]": records behind}`` (empty: the group has drained them all)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        ends = await consumer.end_offsets(tps)
        behind: dict[str, int] = {}
        for tp in tps:
            committed = await consumer.committed(tp) or 0
            if committed < ends[tp]:
                behind[f"{tp.topic}[{tp.partition}]"] = ends[tp] - committed
        return behind
    finally:
        await consumer.stop()


async def _end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def sink_behind(
    bootstrap: str, dsn: str, schema: str, group: str, topics: Iterable[str]
) -> dict[str, int]:
    """Like ``group_behind`` for the Postgres sink, whose offsets live in ``sink_offsets``."""
    import asyncpg

    ends = await _end_offsets(bootstrap, topics)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            f'SELECT topic, partition, next_offset FROM "{schema}".sink_offsets'
            " WHERE group_id = $1",
            group,
        )
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        rows = []
    finally:
        await conn.close()
    done = {(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}
    return {
        f"{tp.topic}[{tp.partition}]": end - done.get((tp.topic, tp.partition), 0)
        for tp, end in ends.items()
        if done.get((tp.topic, tp.partition), 0) < end
    }
