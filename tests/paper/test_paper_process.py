"""The paper exchange process on a real broker: orders and ticks in, fills and events out."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from decimal import Decimal

import pytest

from connectors.paper import cancel_marker
from schemas.records import Exchange, Fill, OrderEvent, OrderStatus, OrderType, Side, Tick, utcnow
from streams.dlq import DLQ_HEADERS
from streams.embedded import EmbeddedBroker
from streams.topics import FILLS, ORDER_EVENTS, PAPER_ORDERS, TICKS
from tests.factories import FIXED_NS, make_tick
from tests.harness import TradepipeProcess, env_for, produce, produce_raw
from tests.paper.helpers import TopicReader, fills_of, routed, statuses, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]

S = Decimal


def _tick(n: int, last: str, volume: int = 100) -> Tick:
    price = S(last)
    return make_tick(
        ts_event_ns=FIXED_NS + n,
        last_price=price,
        bid=price - S("0.05"),
        ask=price + S("0.05"),
        volume=volume,
        trace_id=f"tick-{n}",
    )


async def test_orders_fill_by_the_fill_model_then_cancel_expire_and_reject(
    paper_broker: EmbeddedBroker,
    paper_process: Callable[[str], TradepipeProcess],
    reader: Callable[..., TopicReader],
) -> None:
    # Arrange: a market BUY, a resting limit BUY below the market, a SELL larger than one
    # tick's volume, an order to cancel, one to expire and one for an unknown instrument.
    bootstrap = paper_broker.bootstrap_servers
    market = routed(order_type=OrderType.MARKET, price=None, quantity=5, trace_id="tr-market")
    limit = routed(price=S("2400.00"), quantity=10, trace_id="tr-limit")
    big = routed(side=Side.SELL, price=S("2440.00"), quantity=150, account_id="ACC2")
    to_cancel = routed(price=S("2000.00"), quantity=1)
    to_expire = routed(price=S("2000.00"), quantity=2)
    unknown = routed(instrument_token="999999", tick_size=None, exchange=Exchange.NSE)
    events = reader(ORDER_EVENTS, OrderEvent)
    fills = reader(FILLS, Fill)
    with paper_process("paper"):
        await produce(
            bootstrap,
            PAPER_ORDERS,
            [market, limit, big, to_cancel, to_expire, unknown],
            key_field="instrument_token",
        )
        await events.until(6)  # five ACCEPTED, one REJECTED: every order is booked before ticks

        # Act: ticks at 2450 (market fills; the SELL takes the rest of the volume), 2395
        # (the limit BUY crosses), 2450 again (the SELL completes); then cancel and expire.
        await produce(
            bootstrap,
            TICKS,
            [_tick(1, "2450.00"), _tick(2, "2395.00"), _tick(3, "2450.00")],
            key_field="instrument_token",
        )
        await fills.until(4)
        await produce(
            bootstrap,
            PAPER_ORDERS,
            [cancel_marker(to_cancel, created_at=utcnow())],
            key_field="instrument_token",
        )
        await wait_for(events, lambda evs: OrderStatus.CANCELLED in statuses(evs, to_cancel))
        assert (await _expire(paper_broker)) == 0
        await wait_for(events, lambda evs: OrderStatus.EXPIRED in statuses(evs, to_expire))

    # Assert
    got_fills = fills.records()
    got_events = events.records()
    assert fills_of(got_fills, market) == [(f"P-{market.intent_id}-1", 5, "2450.0500")]
    assert fills_of(got_fills, limit) == [(f"P-{limit.intent_id}-1", 10, "2395.0500")]
    assert fills_of(got_fills, big) == [
        (f"P-{big.intent_id}-1", 95, "2449.9500"),
        (f"P-{big.intent_id}-2", 55, "2449.9500"),
    ]
    assert statuses(got_events, big) == [
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    assert statuses(got_events, to_cancel) == [OrderStatus.ACCEPTED, OrderStatus.CANCELLED]
    assert statuses(got_events, to_expire) == [OrderStatus.ACCEPTED, OrderStatus.EXPIRED]
    rejected = [e for e in got_events if e.intent_id == unknown.intent_id]
    assert [(e.status, e.reason_code) for e in rejected] == [
        (OrderStatus.REJECTED, "VENUE_REJECTED")
    ]
    market_fill = next(m for m in fills.messages if m.key == market.account_id.encode())
    assert dict(market_fill.headers)["trace_id"] == b"tr-market"
    assert [f.trace_id for f in got_fills if f.intent_id == market.intent_id] == ["tr-market"]
    assert all(e.seq == i + 4 for i, e in enumerate(sorted(rejected, key=lambda e: e.seq)))


async def _expire(broker: EmbeddedBroker) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "streams.cli", "paper", "expire", "--day", "2026-11-21"),
        env=env_for(broker.bootstrap_servers),
    )
    return await proc.wait()


async def test_poison_on_each_input_goes_to_its_dlq_and_the_partition_keeps_moving(
    paper_broker: EmbeddedBroker,
    paper_process: Callable[[str], TradepipeProcess],
    reader: Callable[..., TopicReader],
) -> None:
    # Arrange: a resting order so that ticks of 2885 are decoded, then poison on both inputs
    bootstrap = paper_broker.bootstrap_servers
    resting = routed(price=S("2400.00"), quantity=1)
    after = routed(order_type=OrderType.MARKET, price=None, quantity=1)
    events = reader(ORDER_EVENTS, OrderEvent)
    with paper_process("paper"):
        await produce(bootstrap, PAPER_ORDERS, [resting], key_field="instrument_token")
        await events.until(1)

        # Act
        await produce_raw(bootstrap, PAPER_ORDERS, [(b"2885", b"not avro at all")])
        await produce_raw(bootstrap, TICKS, [(b"2885", b"\x00\x00\x00\x00\x01\xff\xff")])
        await produce(bootstrap, PAPER_ORDERS, [after], key_field="instrument_token")
        await produce(bootstrap, TICKS, [_tick(1, "2450.00")], key_field="instrument_token")
        await wait_for(events, lambda evs: OrderStatus.FILLED in statuses(evs, after))
        order_dlq = reader(PAPER_ORDERS + ".dlq", None)
        tick_dlq = reader(TICKS + ".dlq", None)
        orders_dead = await order_dlq.until(1, timeout=20)
        ticks_dead = await tick_dlq.until(1, timeout=20)

    # Assert
    for dead, topic, value in (
        (orders_dead, PAPER_ORDERS, b"not avro at all"),
        (ticks_dead, TICKS, b"\x00\x00\x00\x00\x01\xff\xff"),
    ):
        assert len(dead) == 1
        headers = dict(dead[0].headers)
        assert dead[0].value == value
        assert dead[0].key == b"2885"
        assert headers["source_topic"] == topic.encode()
        assert headers["error_code"] == b"decode_error"
        assert int(headers["source_offset"]) >= 0
        assert headers["source_partition"] == str(dead[0].partition).encode()
        assert headers["agent"] == b"paper_exchange"
        assert set(DLQ_HEADERS) <= headers.keys()
