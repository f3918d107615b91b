"""The scripted trading day through a real worker and a real paper exchange, on the embedded
broker: once undisturbed, and once with the worker SIGKILLed twice and restarted."""

from __future__ import annotations

import random
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.records import Exchange, OrderEvent, OrderStatus, Side, Tick
from streams.embedded import EmbeddedBroker
from streams.settings import KafkaSettings
from streams.topics import ensure_topics
from tests.e2e.day import EXPECTED, RELIANCE, TradingDay, worker_log
from tests.harness import TradepipeProcess, env_for, produce

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.slow]


async def _setup(broker: EmbeddedBroker, unique: str) -> dict[str, str]:
    bootstrap = broker.bootstrap_servers
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
    # the opening price is on the tape before the worker starts (its price feed re-reads it)
    opening = Tick(
        instrument_token=RELIANCE,
        exchange=Exchange.NSE,
        ts_event_ns=time.time_ns() - 10**9,
        last_price=Decimal("2450.00"),
        bid=Decimal("2449.95"),
        ask=Decimal("2450.05"),
        volume=0,
    )
    await produce(bootstrap, "md.ticks.v1", [opening], key_field="instrument_token")
    return env_for(
        bootstrap,
        TRADEPIPE_APP_ID=f"tp-day-{unique}",
        TRADEPIPE_REDIS__KEY_PREFIX=f"tp-test:{unique}:",
        TRADEPIPE_PAPER__SNAPSHOT_INTERVAL_S="0.5",
        TRADEPIPE_AGENTS__VENUES='{"ACC8": "smartapi"}',
        TRADEPIPE_AGENTS__MARK_INTERVAL_S="0.5",
    )


def _illegal_event(intent_id: str) -> OrderEvent:
    return OrderEvent(
        event_id=f"forged-{intent_id}",
        intent_id=intent_id,
        account_id="ACC1",
        client_order_id="forged",
        instrument_token=RELIANCE,
        exchange=Exchange.NSE,
        side=Side.BUY,
        status=OrderStatus.REJECTED,
        seq=99,
        quantity=100,
        stage="venue",
        venue="paper",
    )


async def _play(
    broker: EmbeddedBroker, tmp_path: Path, unique: str, kill_after: set[str]
) -> TradingDay:
    env = await _setup(broker, unique)
    log = tmp_path / "worker.log"

    def start_worker() -> TradepipeProcess:
        return TradepipeProcess(["worker"], env, log).start()

    paper = TradepipeProcess(["paper"], env, tmp_path / "paper.log").start()
    day = TradingDay(broker.bootstrap_servers, start_worker, kill_after=kill_after)
    day.worker = start_worker()
    try:
        day.expect = await day.run()
        # a venue event the order state machine must refuse: REJECTED after FILLED
        first_buy = next(
            e.intent_id
            for e in day.events.records()
            if e.account_id == "ACC1" and e.status is OrderStatus.FILLED
        )
        await produce(broker.bootstrap_servers, "orders.events.v1", [_illegal_event(first_buy)])
        await day._wait(
            day.audit,
            lambda: any(a.action == "illegal_transition" for a in day.audit.records()),
        )
        day.latest = await day.final_positions()
        routed = {e.intent_id for e in day.events.records() if e.status is OrderStatus.ROUTED}
        await day._wait(
            day.paper_orders,
            lambda: {o.intent_id for o in day.paper_orders.records()} >= routed,
        )
        await day.fills.poll()
        assert day.worker.proc is not None and day.worker.proc.poll() is None, worker_log(log)
    finally:
        if day.worker is not None:
            day.worker.stop()
        paper.stop()
        await day.close()
    return day


def _assert_positions(day: TradingDay) -> None:
    latest = day.latest
    for key, (qty, avg, realised, fees, unrealised) in EXPECTED.items():
        snap = latest.get(key)
        assert snap is not None, f"no snapshot for {key}"
        assert snap.quantity == qty, (key, snap)
        assert snap.avg_price == avg, (key, snap)
        assert snap.realised_pnl == realised, (key, snap)
        assert snap.fees == fees, (key, snap)
        assert snap.unrealised_pnl == unrealised, (key, snap)
        assert snap.last_price == Decimal("2450.00"), (key, snap)


def _assert_routed_once(day: TradingDay) -> None:
    events = day.events.records()
    routed = {e.event_id: e.intent_id for e in events if e.status is OrderStatus.ROUTED}
    per_intent = Counter(routed.values())
    assert per_intent and max(per_intent.values()) == 1, per_intent
    venue_orders = {o.intent_id for o in day.paper_orders.records()}
    assert venue_orders == set(per_intent), venue_orders ^ set(per_intent)
    quantities = {o.intent_id: o.quantity for o in day.paper_orders.records()}
    fills = {f.fill_id: f for f in day.fills.records()}
    filled = Counter[str]()
    for f in fills.values():
        filled[f.intent_id] += f.quantity
    assert all(filled[i] <= quantities[i] for i in filled), filled


async def test_trading_day_ends_with_hand_computed_positions_and_every_refusal(
    fresh_broker: EmbeddedBroker, tmp_path: Path, unique: str
) -> None:
    # Arrange / Act
    day = await _play(fresh_broker, tmp_path, unique, kill_after=set())
    # Assert
    _assert_positions(day)
    codes = set(day.expect.values())
    assert {
        "TRADING_HALTED",
        "REDUCING_ONLY",
        "RATE_LIMITED",
        "NO_REFERENCE_PRICE",
        "FAT_FINGER",
        "MAX_NOTIONAL",
        "MAX_OPEN_ORDERS",
        "DAILY_LOSS_LIMIT",
        "MAX_POSITION",
        "MAX_GROSS_EXPOSURE",
        "NO_VENUE",
        "DUPLICATE_CLIENT_ORDER_ID",
    } <= codes
    partial = [e for e in day.events.records() if e.status is OrderStatus.PARTIALLY_FILLED]
    assert len({e.event_id for e in partial}) >= 2
    illegal = [a for a in day.audit.records() if a.action == "illegal_transition"]
    assert illegal[0].details["from"] == "FILLED" and illegal[0].details["to"] == "REJECTED"
    _assert_routed_once(day)


async def test_trading_day_with_worker_killed_twice_ends_identical_and_routes_once(
    fresh_broker: EmbeddedBroker, tmp_path: Path, unique: str
) -> None:
    # Arrange: two random kill points among the steps that leave work in flight
    points = ["validation", "partial1", "sell_fill", "buy50_fill", "reducing_cmd", "risk", "resume"]
    kill_after = set(random.Random(unique).sample(points, 2))
    # Act
    day = await _play(fresh_broker, tmp_path, unique, kill_after=kill_after)
    # Assert
    assert day.kills == 2, kill_after
    _assert_positions(day)
    _assert_routed_once(day)
