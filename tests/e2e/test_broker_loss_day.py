"""The scripted trading day with the whole broker lost mid-day (runbook-sink.md, "Broker lost").

Worker, paper exchange and Postgres sink run as ``tradepipe`` subprocesses. After the day's
``loss_limit`` part (fills done, ACC1 long 50, risk state and idempotency keys in the worker's
tables) a resting BUY LIMIT is booked, the sink is let catch up, and then the broker is
SIGKILLed (memory storage: every topic is gone) and the processes with it. The runbook's order
follows (``docs/runbook-sink.md``, "Broker lost"): a fresh broker at the same address,
``tradepipe restore``, then worker, paper exchange and sink again, and the rest of the day.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.records import Exchange, OrderIntent, OrderStatus, Side, Tick
from streams.embedded import EmbeddedBroker
from streams.settings import KafkaSettings
from streams.topics import AUDIT, CONTROL, FILLS, ORDER_EVENTS, POSITIONS, ensure_topics
from tests.conftest import PG_DSN, REDIS_URL
from tests.e2e.day import EXPECTED, RELIANCE, TradingDay, _intent, worker_log
from tests.harness import TradepipeProcess, env_for, produce

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
]

D = Decimal
LOSS_AFTER = "loss_limit"
SUNK = (ORDER_EVENTS, FILLS, POSITIONS, AUDIT, CONTROL)


def _tick(last: str, volume: int) -> Tick:
    price = D(last)
    return Tick(
        instrument_token=RELIANCE,
        exchange=Exchange.NSE,
        ts_event_ns=time.time_ns(),
        last_price=price,
        bid=price - D("0.05"),
        ask=price + D("0.05"),
        volume=volume,
    )


async def _sink_caught_up(bootstrap: str, schema: str, group: str, app_id: str) -> bool:
    """True when the sink's committed offsets reach the end of every topic it reads."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = {
            t
            for t in await consumer.topics()
            if t in SUNK or (t.startswith(f"{app_id}-") and t.endswith("-changelog"))
        }
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    conn = await asyncpg.connect(PG_DSN)
    try:
        rows = await conn.fetch(
            f'SELECT topic, partition, next_offset FROM "{schema}".sink_offsets'
            " WHERE group_id = $1",
            group,
        )
    finally:
        await conn.close()
    done = {(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}
    return all(done.get((tp.topic, tp.partition), 0) >= end for tp, end in ends.items() if end)


async def _wait_sink(bootstrap: str, schema: str, group: str, app_id: str) -> None:
    deadline = time.monotonic() + 60
    while not await _sink_caught_up(bootstrap, schema, group, app_id):
        assert time.monotonic() < deadline, "the sink did not catch up in 60 s"
        await asyncio.sleep(0.5)


async def _fetch(schema: str, query: str) -> list[Any]:
    conn = await asyncpg.connect(PG_DSN)
    try:
        return list(await conn.fetch(query.format(s=f'"{schema}"')))
    finally:
        await conn.close()


class _Stack:
    """The three pipeline processes against one environment."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.generation = 0
        self.paper: TradepipeProcess | None = None
        self.sink: TradepipeProcess | None = None

    def worker(self) -> TradepipeProcess:
        return TradepipeProcess(["worker"], self.env, self.logs / "worker.log").start()

    def start_edges(self) -> None:
        self.generation += 1
        g = self.generation
        self.paper = TradepipeProcess(["paper"], self.env, self.logs / f"paper{g}.log").start()
        self.sink = TradepipeProcess(["sink"], self.env, self.logs / f"sink{g}.log").start()

    def kill_edges(self) -> None:
        for proc in (self.paper, self.sink):
            if proc is not None and proc.proc is not None and proc.proc.poll() is None:
                proc.kill()

    def stop_edges(self) -> None:
        for proc in (self.paper, self.sink):
            if proc is not None and proc.proc is not None and proc.proc.poll() is None:
                proc.stop()


async def test_day_with_broker_lost_and_restored_ends_with_hand_computed_positions_once_each(
    fresh_broker: EmbeddedBroker, tmp_path: Path, unique: str, pg_schema: str, redis_client: Any
) -> None:
    # Arrange: topics, the opening price, the three processes
    bootstrap = fresh_broker.bootstrap_servers
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
    await produce(bootstrap, "md.ticks.v1", [_tick("2450.00", 0)], key_field="instrument_token")
    app_id, group = f"tp-dr-{unique}", f"sink-{unique}"
    env = env_for(
        bootstrap,
        TRADEPIPE_APP_ID=app_id,
        TRADEPIPE_REDIS__URL=REDIS_URL,
        TRADEPIPE_REDIS__KEY_PREFIX=f"tp-test:{unique}:",
        TRADEPIPE_POSTGRES__DSN=PG_DSN,
        TRADEPIPE_POSTGRES__DB_SCHEMA=pg_schema,
        TRADEPIPE_SINK__GROUP_ID=group,
        TRADEPIPE_SINK__BATCH_MAX_WAIT_MS="100",
        TRADEPIPE_PAPER__SNAPSHOT_INTERVAL_S="0.5",
        TRADEPIPE_AGENTS__VENUES='{"ACC8": "smartapi"}',
        TRADEPIPE_AGENTS__MARK_INTERVAL_S="0.5",
    )
    stack = _Stack(env, tmp_path)
    stack.start_edges()
    fresh: EmbeddedBroker | None = None
    resting: OrderIntent = _intent("DR1", side=Side.BUY, quantity=5, price=D("2440.00"))
    seen_before: dict[str, int] = {}
    restore_out = ""

    async def lose_broker(step: str) -> None:
        nonlocal fresh, restore_out
        if step != LOSS_AFTER:
            return
        # a resting order, then let the sink commit everything the broker holds
        (event,) = await day.send(resting)
        assert event.status is OrderStatus.ROUTED, event
        await day.accepted(resting)
        await asyncio.sleep(1.5)  # the worker's changelog writes for the ACCEPTED event
        await _wait_sink(bootstrap, pg_schema, group, app_id)
        routed = {e.intent_id for e in day.events.records() if e.status is OrderStatus.ROUTED}
        await day._wait(
            day.paper_orders, lambda: routed <= {o.intent_id for o in day.paper_orders.records()}
        )
        seen_before.update(fills=len(day.fills.messages), events=len(day.events.messages))
        # the disaster: every topic gone; the processes die with it (the test's own readers
        # let go first, see TradingDay.disconnect)
        await day.disconnect()
        fresh_broker.kill()
        assert day.worker is not None
        day.worker.kill()
        stack.kill_edges()
        # the runbook: a new broker at the same address, restore, then the processes
        fresh = EmbeddedBroker(port=fresh_broker.port, log_file=tmp_path / "tansu2.log").start()
        restore = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streams.cli",
            "restore",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(restore.communicate(), 120)
        restore_out = out.decode(errors="replace")
        (tmp_path / "restore.log").write_text(restore_out)
        assert restore.returncode == 0, restore_out[-3000:]
        # market data resumes before the worker starts (its price feed re-reads the tape)
        await produce(bootstrap, "md.ticks.v1", [_tick("2446.00", 0)], key_field="instrument_token")
        day.worker = stack.worker()
        stack.start_edges()
        # idempotency keys survived: the client order id used before the loss is refused
        (dup,) = await day.send(_intent("RJ", client_order_id="RJ-dup"))
        assert dup.reason_code == "DUPLICATE_CLIENT_ORDER_ID", dup

    day = TradingDay(bootstrap, stack.worker, after_step=lose_broker)
    day.worker = stack.worker()
    started = time.monotonic()
    try:
        # Act: the day, lost and restored after LOSS_AFTER; then the market crosses the resting
        # order booked before the loss, and the last tick marks everything at 2450.00
        day.expect = await day.run()
        assert fresh is not None, "the broker was never lost"
        await produce(
            bootstrap, "md.ticks.v1", [_tick("2439.00", 1000)], key_field="instrument_token"
        )
        await day.filled(resting, 5)
        await produce(bootstrap, "md.ticks.v1", [_tick("2450.00", 0)], key_field="instrument_token")
        day.latest = await day.final_positions()
        await asyncio.sleep(1.0)
        await _wait_sink(bootstrap, pg_schema, group, app_id)
        await day.fills.poll()
        await day.events.poll()
        filled_ids = {f.intent_id for f in day.fills.records()}
        await day._wait(
            day.paper_orders,
            lambda: filled_ids <= {o.intent_id for o in day.paper_orders.records()},
        )
        assert day.worker.proc is not None and day.worker.proc.poll() is None, worker_log(
            tmp_path / "worker.log"
        )
    finally:
        if (
            day.worker is not None
            and day.worker.proc is not None
            and day.worker.proc.poll() is None
        ):
            day.worker.stop()
        stack.stop_edges()
        await day.close()
        if fresh is not None:
            fresh.stop()
    elapsed = time.monotonic() - started

    # Assert (1): positions on the topic and in Postgres are the hand-computed ones
    assert "paper partitions carried over" in restore_out, restore_out[-3000:]
    for key, figures in EXPECTED.items():
        snap = day.latest.get(key)
        assert snap is not None, f"no snapshot for {key}"
        got = (snap.quantity, snap.avg_price, snap.realised_pnl, snap.fees, snap.unrealised_pnl)
        assert got == figures, (key, snap)
    rows = {
        (r["account_id"], r["instrument_token"]): (
            int(r["quantity"]),
            r["avg_price"],
            r["realised_pnl"],
            r["fees"],
            r["unrealised_pnl"],
        )
        for r in await _fetch(pg_schema, "SELECT * FROM {s}.positions")
    }
    for key, figures in EXPECTED.items():
        assert rows.get(key) == figures, (key, rows.get(key))

    # Assert (2): every fill and order event of the day in Postgres, each exactly once
    fill_rows = await _fetch(pg_schema, "SELECT fill_id, intent_id, quantity FROM {s}.fills")
    event_ids = [
        r["event_id"] for r in await _fetch(pg_schema, "SELECT event_id FROM {s}.order_events")
    ]
    fill_ids = [r["fill_id"] for r in fill_rows]
    assert len(fill_ids) == len(set(fill_ids)) and len(event_ids) == len(set(event_ids))
    assert set(fill_ids) == {f.fill_id for f in day.fills.records()}
    assert set(event_ids) == {e.event_id for e in day.events.records()}
    filled = Counter[str]()
    for r in fill_rows:
        filled[r["intent_id"]] += int(r["quantity"])
    routed = {o.intent_id: o.quantity for o in day.paper_orders.records()}
    assert all(n <= routed[i] for i, n in filled.items()), (filled, routed)

    # Assert (3): the order resting before the loss filled after it, on the new broker
    new_fills = [
        f for f in day.fills.records()[seen_before["fills"] :] if f.intent_id == resting.intent_id
    ]
    assert sum(f.quantity for f in new_fills) == 5, new_fills
    assert filled[resting.intent_id] == 5
    (order,) = await _fetch(
        pg_schema, f"SELECT status FROM {{s}}.orders WHERE intent_id = '{resting.intent_id}'"
    )
    assert order["status"] == OrderStatus.FILLED.value
    assert elapsed < 150, f"the day took {elapsed:.0f} s"
