"""The whole pipeline, measured from the outside: N intents through worker + paper exchange.

Starts an embedded broker, ``tradepipe worker`` (whatever agents are registered),
``tradepipe paper`` and ``tradepipe simulate`` (a tick stream over the NSE equities), then:

1. warms up (a few intents, until their first events come back);
2. produces N MARKET intents (default 50,000) at the producer's max rate, each stamped
   ``created_at`` as it is encoded, over 1,000 accounts;
3. reads ``orders.events.v1`` in a thread and records, per intent, when each status first
   appeared (the event's Kafka timestamp);
4. scrapes the worker's and the paper exchange's ``/metrics``.

Prints: sustained intents/s to the furthest status reached (FILLED once routing and the
paper exchange are wired), end-to-end latency p50/p99 intent ``created_at`` → that status
(and every other status seen), in-agent processing time p50/p99 per agent
(``tradepipe_processing_seconds``), the paper exchange's batch time, and, on the same broker
in the same run, a plain Faust pass-through agent and a raw aiokafka consume → produce loop
(``bench/baselines.py``), and the CPU each process used from the first intent to the end
(``/proc``), per intent. The tick readers run with ``--fetch-min-bytes`` (default 32 KiB,
the throughput setting; 1 is the product default). Run:
``python bench/pipeline.py [--intents N]``. Needs Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from baselines import faust_passthrough, prepublish, raw_loop
from confluent_kafka import Consumer
from prometheus_client.parser import text_string_to_metric_families

from connectors.instruments import InstrumentMaster
from schemas.codec import AvroCodec
from schemas.records import Exchange, OrderEvent, OrderIntent, OrderType, Product, Side, utcnow
from schemas.registry import FileRegistry
from streams.embedded import EmbeddedBroker, free_port
from streams.kafka import aiokafka_producer
from streams.procs import spawn, stop_process
from streams.settings import KafkaSettings, Settings
from streams.topics import INTENTS, ORDER_EVENTS, TopicSpec, ensure_topics

__all__ = ["main"]

CODEC = AvroCodec(FileRegistry())
LIFECYCLE = (
    "VALIDATED",
    "REJECTED",
    "APPROVED",
    "DENIED",
    "ROUTED",
    "ROUTE_FAILED",
    "ACCEPTED",
    "PARTIALLY_FILLED",
    "FILLED",
)
RISK_ENV = {  # the bench measures throughput, not the order-rate throttle
    "TRADEPIPE_RISK__MAX_ORDERS_PER_SECOND": "1000000",
    "TRADEPIPE_RISK__MAX_OPEN_ORDERS": "1000000",
    "TRADEPIPE_RISK__MAX_POSITION_QTY": "1000000000",
    "TRADEPIPE_RISK__MAX_GROSS_EXPOSURE": "100000000000",
    "TRADEPIPE_RISK__MAX_ORDER_NOTIONAL": "100000000000",
    "TRADEPIPE_RISK__FAT_FINGER_PCT": "100",
}


class EventReader(threading.Thread):
    """Reads orders.events.v1 from the beginning; first time each (intent, status) was seen."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.seen: dict[str, dict[str, int]] = {}  # intent id -> status -> Kafka ts (ms)
        self.last_change = time.monotonic()
        self.stop_flag = threading.Event()

    def run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"bench-events-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
            }
        )
        consumer.subscribe([ORDER_EVENTS])
        try:
            while not self.stop_flag.is_set():
                for msg in consumer.consume(num_messages=2000, timeout=0.5):
                    if msg.error() is not None:
                        continue
                    ev = CODEC.decode_dict(msg.value(), OrderEvent)
                    statuses = self.seen.setdefault(ev["intent_id"], {})
                    statuses.setdefault(str(ev["status"]), msg.timestamp()[1])
                    self.last_change = time.monotonic()
        finally:
            consumer.close()


def _intents(n: int, tokens: list[str], prefix: str) -> list[OrderIntent]:
    return [
        OrderIntent(
            intent_id=f"{prefix}-{k}",
            account_id=f"B{k % 1000}",
            client_order_id=f"{prefix}-{k}",
            instrument_token=tokens[k % len(tokens)],
            exchange=Exchange.NSE,
            side=Side.BUY if k % 2 else Side.SELL,
            quantity=1,
            order_type=OrderType.MARKET,
            product=Product.INTRADAY,
            source="bench",
            trace_id=f"{prefix}-{k}",
        )
        for k in range(n)
    ]


async def _produce(
    settings: Settings, intents: list[OrderIntent], rate: float = 0.0
) -> dict[str, float]:
    """Produce at ``rate``/s (0: max); returns intent id -> created_at (epoch seconds)."""
    encode = CODEC.encoder(INTENTS, OrderIntent)
    producer = aiokafka_producer(settings)
    await producer.start()
    created: dict[str, float] = {}
    chunk = 2000 if rate <= 0 else max(1, int(rate / 100))  # paced in 10 ms slices
    began = time.monotonic()
    try:
        for i in range(0, len(intents), chunk):
            if rate > 0:
                await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
            futures = []
            for intent in intents[i : i + chunk]:
                intent.created_at = utcnow()
                created[intent.intent_id] = intent.created_at.timestamp()
                futures.append(
                    await producer.send(INTENTS, encode(intent), key=intent.account_id.encode())
                )
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return created


def _metrics(port: int) -> list[Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return list(text_string_to_metric_families(resp.read().decode()))


def _hist_quantiles(
    families: list[Any], name: str, label: str | None
) -> dict[str, tuple[float, float, int]]:
    """label value -> (p50, p99, count) from a histogram's cumulative buckets."""
    buckets: dict[str, list[tuple[float, float]]] = {}
    for fam in families:
        if fam.name != name:
            continue
        for s in fam.samples:
            if s.name.endswith("_bucket"):
                key = s.labels.get(label, "") if label else ""
                buckets.setdefault(key, []).append((float(s.labels["le"]), s.value))
    out: dict[str, tuple[float, float, int]] = {}
    for key, bs in buckets.items():
        bs.sort()
        total = bs[-1][1]
        if total:
            out[key] = (_q(bs, 0.5 * total), _q(bs, 0.99 * total), int(total))
    return out


def _q(buckets: list[tuple[float, float]], rank: float) -> float:
    lo_le, lo_n = 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if le == float("inf"):
                return lo_le
            return lo_le + (le - lo_le) * ((rank - lo_n) / (n - lo_n) if n > lo_n else 1.0)
        lo_le, lo_n = le, n
    return lo_le


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_report(n: int, cpu: dict[str, float], wall: float) -> None:
    print(f"  CPU per process from the first intent to the end ({wall:.1f} s wall, 2 cores):")
    for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        per = seconds / n * 1e6
        print(
            f"    {name:<10} {seconds:>7.2f} s  {per:>7.0f} µs per intent  {seconds / wall:>5.0%}"
        )
    total = sum(cpu.values())
    print(f"    {'all':<10} {total:>7.2f} s  {total / n * 1e6:>7.0f} µs per intent")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _row(label: str, count: int, p50: float, p99: float, unit: str) -> None:
    scale = 1000.0 if unit == "ms" else 1e6
    a, b = p50 * scale, p99 * scale
    print(f"    {label:<18} {count:>7,}  p50 {a:>9.1f} {unit}  p99 {b:>9.1f} {unit}")


def _child(name: str, args: list[str], env: dict[str, str], logs: Path) -> Any:
    argv = [sys.executable, "-m", "streams.cli", *args]
    return spawn(argv, log_file=logs / f"{name}.log", env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=50_000)
    parser.add_argument("--baseline", type=int, default=30_000, help="records per baseline")
    parser.add_argument("--tick-rate", type=float, default=2_000)
    parser.add_argument(
        "--fetch-min-bytes",
        type=int,
        default=32_768,
        help="TRADEPIPE_KAFKA__FETCH_MIN_BYTES for the tick readers (1: the default setting)",
    )
    parser.add_argument("--rate", type=float, default=0.0, help="intents/s offered (0: max)")
    parser.add_argument("--idle", type=float, default=20.0, help="stop after no new event for")
    parser.add_argument(
        "--one-record-batches",
        action="store_true",
        help="keep the dev profile's producer_max_batch_size=1 in the worker"
        " (docs/embedded-broker.md #3)",
    )
    args = parser.parse_args()
    n: int = args.intents
    logs = Path(mkdtemp(prefix="bench-pipeline-"))
    tokens = [
        i.token
        for i in InstrumentMaster.sample()
        if i.exchange is Exchange.NSE and not i.instrument_type
    ]
    run_id = uuid.uuid4().hex[:8]
    with EmbeddedBroker(log_file=logs / "broker.log") as broker:
        bootstrap = broker.bootstrap_servers
        settings = Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap))
        bench_topics = [TopicSpec(f"bench.{t}", settings.kafka.partitions, "k") for t in "abc"]
        asyncio.run(ensure_topics(settings.kafka, bench_topics))
        prepublish(bootstrap, "bench.a", args.baseline)
        faust_rate = faust_passthrough(bootstrap, "bench.a", "bench.b", args.baseline, logs)
        raw_rate = raw_loop(bootstrap, "bench.a", "bench.c", args.baseline)

        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
        env.update(RISK_ENV)
        # Nothing restarts here, so batching may stay on (docs/embedded-broker.md #3).
        if not args.one_record_batches:
            env["TRADEPIPE_KAFKA__PRODUCER_MAX_BATCH_SIZE"] = "16384"
        env["TRADEPIPE_KAFKA__FETCH_MIN_BYTES"] = str(args.fetch_min_bytes)
        env.update(
            TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
            TRADEPIPE_REDIS__KEY_PREFIX=f"bench:{run_id}:",
            TRADEPIPE_APP_ID=f"bench-{run_id}",
            TRADEPIPE_LOG__LEVEL="WARNING",
            TRADEPIPE_LOG__JSON_OUTPUT="true",
            PYTHONUNBUFFERED="1",
        )
        worker_port, paper_port = free_port(), free_port()
        procs = [
            _child("worker", ["worker"], dict(env, TRADEPIPE_METRICS_PORT=str(worker_port)), logs),
            _child("paper", ["paper"], dict(env, TRADEPIPE_METRICS_PORT=str(paper_port)), logs),
            _child("simulate", ["simulate", "--rate", str(args.tick_rate)], env, logs),
        ]
        reader = EventReader(bootstrap)
        reader.start()
        try:
            warm = _intents(20, tokens, f"warm-{run_id}")
            asyncio.run(_produce(settings, warm))
            deadline = time.monotonic() + 120
            while not all(w.intent_id in reader.seen for w in warm):
                if time.monotonic() > deadline:
                    raise SystemExit(f"the worker produced no events in 120 s; see {logs}")
                time.sleep(0.2)
            intents = _intents(n, tokens, f"run-{run_id}")
            pids = {"worker": procs[0].pid, "paper": procs[1].pid, "simulate": procs[2].pid}
            if broker.proc is not None:
                pids["broker"] = broker.proc.pid
            pids["bench"] = os.getpid()
            cpu0 = {name: _cpu_seconds(pid) for name, pid in pids.items()}
            t0 = time.time()
            created = asyncio.run(_produce(settings, intents, args.rate))
            produce_s = time.time() - t0
            while time.monotonic() - reader.last_change < args.idle:
                done = sum(1 for i in intents if "FILLED" in reader.seen.get(i.intent_id, {}))
                if done >= n:
                    break
                time.sleep(0.5)
            reader.stop_flag.set()
            cpu = {name: _cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
            wall = time.time() - t0
            worker_metrics = _metrics(worker_port)
            paper_metrics = _metrics(paper_port)
        finally:
            for proc in reversed(procs):
                stop_process(proc, timeout=20)
        reader.join(5)
        _report(
            n,
            intents,
            created,
            reader,
            produce_s,
            t0,
            worker_metrics,
            paper_metrics,
            faust_rate,
            raw_rate,
            args,
            logs,
        )
        _cpu_report(n, cpu, wall)


def _report(
    n: int,
    intents: list[OrderIntent],
    created: dict[str, float],
    reader: EventReader,
    produce_s: float,
    t0: float,
    worker_metrics: list[Any],
    paper_metrics: list[Any],
    faust_rate: float,
    raw_rate: float,
    args: Any,
    logs: Path,
) -> None:
    latencies: dict[str, list[float]] = {}
    last_ms: dict[str, int] = {}
    for intent in intents:
        for status, ts_ms in reader.seen.get(intent.intent_id, {}).items():
            latencies.setdefault(status, []).append(ts_ms / 1000 - created[intent.intent_id])
            last_ms[status] = max(last_ms.get(status, 0), ts_ms)
    reached = [s for s in LIFECYCLE if latencies.get(s)]
    furthest = reached[-1] if reached else None
    print(
        f"\npipeline, {n:,} MARKET intents, ticks at {args.tick_rate:,.0f}/s, one worker, one run"
    )
    batching = "1 record per batch" if args.one_record_batches else "16 KiB batches"
    print(f"  worker producer: {batching}; event reader decodes in this process")
    print(f"  tick readers: fetch.min.bytes {args.fetch_min_bytes:,}")
    print(f"  intents produced in {produce_s:.2f}s ({n / produce_s:,.0f}/s offered)")
    if furthest is None:
        print("  no order events came back for the run's intents")
    else:
        done = len(latencies[furthest])
        span = last_ms[furthest] / 1000 - t0
        print(f"  furthest status reached: {furthest} by {done:,} of {n:,} intents")
        print(f"  sustained end to end (intents → {furthest})  {done / span:>10,.0f} intents/s")
    print("  end-to-end latency, intent created_at → first event of status (count, p50, p99):")
    for status in reached:
        vals = latencies[status]
        _row(status, len(vals), _pct(vals, 0.5), _pct(vals, 0.99), "ms")
    print("  in-agent time per record, worker /metrics (interpolated in buckets; first is 100 µs):")
    stages = _hist_quantiles(worker_metrics, "tradepipe_processing_seconds", "agent")
    for agent, (p50, p99, count) in sorted(stages.items()):
        _row(agent, count, p50, p99, "µs")
    paper = _hist_quantiles(paper_metrics, "tradepipe_paper_batch_seconds", None)
    for p50, p99, count in paper.values():
        _row("paper (per batch)", count, p50, p99, "µs")
    print("  same broker, same run, single hop A → B:")
    print(f"    plain Faust pass-through agent            {faust_rate:>10,.0f} msg/s")
    print(f"    raw aiokafka consume → produce loop       {raw_rate:>10,.0f} msg/s")
    print(f"  logs: {logs}")


if __name__ == "__main__":
    main()
