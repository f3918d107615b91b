"""The worker's order path alone: N intents → validate → risk → route in one ``tradepipe worker``.

Pre-publishes N LIMIT intents over ``--accounts`` accounts (so the worker starts on a full
topic and the figure is its own drain rate, not the producer's), starts one worker, waits
until every intent has its ROUTED event, and prints: intents/s from the first to the last
ROUTED event (Kafka timestamps), and the worker's in-agent processing time per record per
stage (p50/p99 from ``tradepipe_processing_seconds``, bucket-interpolated). ``--changelog-batch``
sets Faust's ``producer_max_batch_size`` (the dev profile's 1 keeps table recovery whole on
the embedded broker, docs/embedded-broker.md #3).
Run: ``python bench/worker_agents.py --intents 20000``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from schemas.codec import AvroCodec
from schemas.records import Exchange, OrderEvent, OrderIntent, OrderType, Side
from schemas.registry import FileRegistry
from streams.embedded import EmbeddedBroker, free_port
from streams.kafka import aiokafka_producer
from streams.procs import spawn, stop_process
from streams.settings import KafkaSettings, Settings
from streams.topics import ensure_topics

__all__ = ["main"]

CODEC = AvroCodec(FileRegistry())
STAGES = ("validate_intents", "check_risk", "route_orders")


async def _publish(bootstrap: str, n: int, accounts: int, run: str) -> None:
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap))
    encode = CODEC.encoder("orders.intents.v1", OrderIntent)
    producer = aiokafka_producer(settings, linger_ms=20)
    await producer.start()
    try:
        futures = []
        for i in range(n):
            account = f"B{i % accounts:04d}"
            intent = OrderIntent(
                intent_id=f"{run}-{i}",
                account_id=account,
                client_order_id=f"{run}-c{i}",
                instrument_token="2885",
                exchange=Exchange.NSE,
                side=Side.BUY if i % 2 else Side.SELL,
                quantity=1,
                order_type=OrderType.LIMIT,
                price=Decimal("2450.00"),
            )
            futures.append(
                await producer.send("orders.intents.v1", encode(intent), key=account.encode())
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _routed_times(bootstrap: str, n: int, wait_s: float) -> list[int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        parts = consumer.partitions_for_topic("orders.events.v1") or set()
        tps = [TopicPartition("orders.events.v1", p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen: dict[str, int] = {}
        deadline = time.monotonic() + wait_s
        while len(seen) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10000)
            for msgs in batch.values():
                for m in msgs:
                    event = CODEC.decode(m.value, OrderEvent)
                    if event.status.value == "ROUTED":
                        seen.setdefault(event.intent_id, m.timestamp)
        return sorted(seen.values())
    finally:
        await consumer.stop()


def _quantiles(families: list[Any], agent: str) -> tuple[float, float, float]:
    buckets: list[tuple[float, float]] = []
    for fam in families:
        if fam.name != "tradepipe_processing_seconds":
            continue
        for s in fam.samples:
            if s.name.endswith("_bucket") and s.labels.get("agent") == agent:
                buckets.append((float(s.labels["le"]), s.value))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0

    def q(p: float) -> float:
        target, prev_le, prev_n = p * total, 0.0, 0.0
        for le, count in buckets:
            if count >= target:
                if le == float("inf"):
                    return prev_le
                frac = (target - prev_n) / (count - prev_n) if count > prev_n else 0.0
                return prev_le + (le - prev_le) * frac
            prev_le, prev_n = le, count
        return prev_le

    return total, q(0.5), q(0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=20_000)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--changelog-batch", type=int, default=1)
    args = parser.parse_args()
    logs = Path(mkdtemp(prefix="bench-agents-"))
    run = uuid.uuid4().hex[:8]
    with EmbeddedBroker(log_file=logs / "broker.log") as broker:
        bootstrap = broker.bootstrap_servers
        asyncio.run(ensure_topics(KafkaSettings(bootstrap_servers=bootstrap)))
        asyncio.run(_publish(bootstrap, args.intents, args.accounts, run))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
        env.update(
            TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
            TRADEPIPE_KAFKA__PRODUCER_MAX_BATCH_SIZE=str(args.changelog_batch),
            TRADEPIPE_APP_ID=f"bench-agents-{run}",
            TRADEPIPE_REDIS__KEY_PREFIX=f"bench:{run}:",
            TRADEPIPE_METRICS_PORT=str(port),
            TRADEPIPE_LOG__LEVEL="WARNING",
            TRADEPIPE_AGENTS__BATCH_WITHIN_S=os.environ.get("BENCH_WITHIN", "0.05"),
            TRADEPIPE_AGENTS__MAX_BATCH=os.environ.get("BENCH_MAX_BATCH", "1000"),
            TRADEPIPE_RISK__MAX_ORDERS_PER_SECOND="1000000",
            TRADEPIPE_RISK__MAX_OPEN_ORDERS="1000000",
            TRADEPIPE_RISK__MAX_POSITION_QTY="1000000000",
            TRADEPIPE_RISK__MAX_GROSS_EXPOSURE="100000000000",
        )
        profile = (
            ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]]
            if os.environ.get("BENCH_PROFILE")
            else []
        )
        worker = spawn(
            [sys.executable, *profile, "-m", "streams.cli", "worker"],
            log_file=logs / "worker.log",
            env=env,
        )
        try:
            times = asyncio.run(_routed_times(bootstrap, args.intents, wait_s=600))
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as resp:
                families = list(text_string_to_metric_families(resp.read().decode()))
        finally:
            stop_process(worker, timeout=20)
    span = (times[-1] - times[0]) / 1000 if len(times) > 1 else float("nan")
    print(
        f"worker agents: {args.intents:,} intents, {args.accounts} accounts, "
        f"changelog batch {args.changelog_batch}"
    )
    rate = len(times) / span
    print(f"  routed {len(times):,}; first→last ROUTED {span:.2f}s = {rate:,.0f} intents/s")
    for stage in STAGES:
        count, p50, p99 = _quantiles(families, stage)
        print(f"  {stage:<18} n={count:>8,.0f}  p50 {p50 * 1e6:8.1f} µs  p99 {p99 * 1e6:8.1f} µs")
    print(f"  logs: {logs}")


if __name__ == "__main__":
    main()
