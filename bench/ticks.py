"""The tick path alone: pre-published simulator ticks through the paper exchange process.

1. starts an embedded broker and publishes N simulated ticks (default 400,000) over the 29
   sample instruments with a batched producer;
2. baselines, same broker, same run: a raw confluent-kafka consume loop over those ticks, and
   the same loop decoding every tick with the Avro codec;
3. for each scenario runs ``tradepipe paper`` (its own group and Redis prefix) and reads its
   ``/metrics`` until ``tradepipe_ticks_processed_total`` reaches N:
   * ``few resting``: a few far-from-market limit orders on 3 instruments (the normal case:
     most ticks touch no order and are not decoded);
   * ``all resting``: such an order on every instrument (every tick is decoded and matched).

Prints sustained ticks/s (first to last tick seen by the process) beside the baselines.
Target: 20,000 ticks/s. Run: ``python bench/ticks.py [--ticks N]``. Needs the local Redis.
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

import redis
from confluent_kafka import Consumer

from connectors.instruments import InstrumentMaster
from connectors.tick_feed import SimulatorFeed
from schemas.codec import AvroCodec
from schemas.records import OrderIntent, OrderType, Side, Tick, utcnow
from schemas.registry import FileRegistry
from streams.embedded import EmbeddedBroker, free_port
from streams.kafka import aiokafka_producer
from streams.procs import spawn, stop_process
from streams.settings import KafkaSettings, Settings
from streams.topics import PAPER_ORDERS, TICKS, ensure_topics

__all__ = ["main"]

TARGET = 20_000
CODEC = AvroCodec(FileRegistry())
REDIS_URL = os.environ.get("TRADEPIPE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _consume_loop(bootstrap: str, n: int, decode: bool) -> float:
    """Raw confluent-kafka: subscribe, consume N ticks; returns msg/s (first to last)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([TICKS])
    seen, first = 0, 0.0
    try:
        while seen < n:
            msgs = consumer.consume(num_messages=2000, timeout=1.0)
            if msgs and not first:
                first = time.perf_counter()
            for msg in msgs:
                if msg.error() is None:
                    if decode:
                        CODEC.decode(msg.value(), Tick)
                    seen += 1
        return seen / (time.perf_counter() - first)
    finally:
        consumer.close()


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _place_orders(settings: Settings, tokens: list[tuple[str, str]]) -> None:
    encode = CODEC.encoder(PAPER_ORDERS, OrderIntent)
    producer = aiokafka_producer(settings)
    await producer.start()
    try:
        for n, (token, exchange) in enumerate(tokens):
            intent = OrderIntent(
                intent_id=f"bench-{uuid.uuid4().hex[:8]}-{n}",
                account_id="BENCH",
                client_order_id=f"bench-{n}",
                instrument_token=token,
                exchange=exchange,  # type: ignore[arg-type]  # Exchange is a StrEnum
                side=Side.BUY,
                quantity=1,
                order_type=OrderType.LIMIT,
                price=Decimal("0.05"),  # never reached: the order rests for the whole run
                stage="routed",
                venue="paper",
                created_at=utcnow(),
            )
            await producer.send_and_wait(PAPER_ORDERS, encode(intent), key=token.encode())
    finally:
        await producer.stop()


def _run_exchange(bootstrap: str, n: int, scenario: str, logs: Path) -> float:
    """Run ``tradepipe paper`` until it processed N ticks; returns its sustained ticks/s."""
    port = free_port()
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    env.update(
        TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
        TRADEPIPE_REDIS__URL=REDIS_URL,
        TRADEPIPE_REDIS__KEY_PREFIX=prefix,
        TRADEPIPE_PAPER__GROUP_ID=f"bench-paper-{scenario.replace(' ', '-')}",
        TRADEPIPE_METRICS_PORT=str(port),
        TRADEPIPE_LOG__JSON_OUTPUT="true",
    )
    argv = [sys.executable, "-m", "streams.cli", "paper"]
    proc = spawn(argv, log_file=logs / f"paper-{scenario.replace(' ', '-')}.log", env=env)
    name = 'tradepipe_ticks_processed_total{agent="paper_exchange"}'
    try:
        deadline = time.monotonic() + 300
        first_count, first_t, count = 0.0, 0.0, 0.0
        while count < n:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"paper exchange stalled at {count:.0f} ticks; see {logs}")
            try:
                count = _metric(port, name)
            except OSError:
                count = 0.0
            if count and not first_t:
                first_count, first_t = count, time.perf_counter()
            time.sleep(0.05)
        return (count - first_count) / (time.perf_counter() - first_t)
    finally:
        stop_process(proc, timeout=20)
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=400_000)
    args = parser.parse_args()
    n: int = args.ticks
    logs = Path(mkdtemp(prefix="bench-ticks-"))
    master = InstrumentMaster.sample()
    instruments = list(master)
    with EmbeddedBroker(log_file=logs / "broker.log") as broker:
        bootstrap = broker.bootstrap_servers
        settings = Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap))
        asyncio.run(ensure_topics(settings.kafka))
        t0 = time.perf_counter()
        feed = SimulatorFeed(settings, CODEC, instruments, rate=0, seed=1)
        published = feed.run(count=n)
        pub_rate = published / (time.perf_counter() - t0)
        raw = _consume_loop(bootstrap, n, decode=False)
        raw_decode = _consume_loop(bootstrap, n, decode=True)
        few = [(i.token, i.exchange.value) for i in instruments[:3]]
        asyncio.run(_place_orders(settings, few))
        few_rate = _run_exchange(bootstrap, n, "few resting", logs)
        every = [(i.token, i.exchange.value) for i in instruments]
        asyncio.run(_place_orders(settings, every))
        all_rate = _run_exchange(bootstrap, n, "all resting", logs)
    print(f"\ntick path, {n:,} ticks over {len(instruments)} instruments, one broker, one run")
    print(f"  simulator publish (confluent, linger 5 ms)   {pub_rate:>10,.0f} ticks/s")
    print(f"  baseline: raw confluent-kafka consume        {raw:>10,.0f} msg/s")
    print(f"  baseline: raw consume + Avro decode each     {raw_decode:>10,.0f} msg/s")
    print(f"  paper exchange, resting orders on 3 instr.   {few_rate:>10,.0f} ticks/s")
    print(f"  paper exchange, resting orders on all instr. {all_rate:>10,.0f} ticks/s")
    print(f"  target                                       {TARGET:>10,.0f} ticks/s")
    print(f"  ratio paper (few) / raw consume              {few_rate / raw:>10.2f}")
    print(f"  logs: {logs}")


if __name__ == "__main__":
    main()
