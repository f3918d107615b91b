"""The paper exchange's matching core: market, limit and stop fills, volume, IOC, expiry."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.lifecycle import can_transition
from agents.reasons import ReasonCode
from connectors import paper_exchange as px
from connectors.fees import FeeModel
from connectors.paper_exchange import PaperBook, PaperConfig, PaperOrder
from schemas.records import Duration, Exchange, Fill, OrderEvent, OrderStatus, OrderType, Side, Tick
from tests.factories import FIXED_NS, make_intent, make_tick

D = Decimal
TICK = D("0.05")


def book(slippage_bps: Decimal = Decimal(0)) -> PaperBook:
    cfg = PaperConfig(fee_model=FeeModel.free(), slippage_bps=slippage_bps)
    return PaperBook("2885", Exchange.NSE, TICK, cfg)


def place(b: PaperBook, oid: str = "B1", **intent: object) -> PaperOrder:
    order = PaperOrder.from_intent(make_intent(**intent), broker_order_id=oid, seq=3)
    b.on_order(order, FIXED_NS)
    return order


def tick(n: int, **fields: object) -> Tick:
    return make_tick(ts_event_ns=FIXED_NS + n, **fields)


def fills_of(results: list[OrderEvent | Fill]) -> list[Fill]:
    return [r for r in results if isinstance(r, Fill)]


def events_of(results: list[OrderEvent | Fill]) -> list[OrderEvent]:
    return [r for r in results if isinstance(r, OrderEvent)]


def test_new_order_is_accepted_with_the_next_sequence_number() -> None:
    b = book()
    result = b.on_order(
        PaperOrder.from_intent(make_intent(), broker_order_id="B1", seq=3), FIXED_NS
    )
    assert [(e.status, e.seq, e.leaves_quantity) for e in result] == [(OrderStatus.ACCEPTED, 4, 10)]


def test_replayed_order_is_not_booked_twice() -> None:
    b = book()
    place(b)
    assert (
        b.on_order(PaperOrder.from_intent(make_intent(), broker_order_id="B1", seq=3), FIXED_NS)
        == []
    )


def test_market_buy_fills_at_the_ask_of_the_next_tick() -> None:
    b = book()
    place(b, order_type=OrderType.MARKET, price=None)
    result = b.on_tick(tick(1))
    [fill] = fills_of(result)
    assert (fill.price, fill.quantity, fill.fill_id) == (D("2450.05"), 10, "B1-1")
    assert events_of(result)[0].status is OrderStatus.FILLED


def test_market_sell_fills_at_the_bid() -> None:
    b = book()
    place(b, side=Side.SELL, order_type=OrderType.MARKET, price=None)
    assert fills_of(b.on_tick(tick(1)))[0].price == D("2449.95")


def test_market_order_uses_last_price_when_tick_has_no_quote() -> None:
    b = book()
    place(b, order_type=OrderType.MARKET, price=None)
    assert fills_of(b.on_tick(tick(1, bid=None, ask=None)))[0].price == D("2450.00")


def test_market_slippage_moves_price_against_the_order_onto_the_tick_grid() -> None:
    b = book(slippage_bps=D("10"))
    place(b, order_type=OrderType.MARKET, price=None)
    place(b, "B2", side=Side.SELL, order_type=OrderType.MARKET, price=None)
    buy, sell = fills_of(b.on_tick(tick(1, bid=D("2450.00"), ask=D("2450.00"))))
    assert (buy.price, sell.price) == (D("2452.45"), D("2447.55"))


def test_buy_limit_rests_until_the_ask_crosses_then_fills_at_the_better_price() -> None:
    b = book()
    place(b, price=D("2440.00"))
    assert b.on_tick(tick(1)) == []
    [fill] = fills_of(b.on_tick(tick(2, ask=D("2439.50"), bid=D("2439.40"))))
    assert fill.price == D("2439.50")


def test_sell_limit_fills_when_bid_reaches_the_limit() -> None:
    b = book()
    place(b, side=Side.SELL, price=D("2449.95"))
    assert fills_of(b.on_tick(tick(1)))[0].price == D("2449.95")


def test_buy_stop_triggers_when_last_reaches_trigger_then_fills_as_market() -> None:
    b = book()
    place(b, order_type=OrderType.STOPLOSS_MARKET, price=None, trigger_price=D("2460.00"))
    assert b.on_tick(tick(1)) == []
    [fill] = fills_of(b.on_tick(tick(2, last_price=D("2460.00"), ask=D("2460.10"))))
    assert fill.price == D("2460.10")


def test_sell_stop_limit_triggers_and_then_respects_its_limit() -> None:
    b = book()
    place(
        b,
        side=Side.SELL,
        order_type=OrderType.STOPLOSS_LIMIT,
        price=D("2435.00"),
        trigger_price=D("2440.00"),
    )
    assert b.on_tick(tick(1, last_price=D("2440.00"), bid=D("2430.00"))) == []
    assert b.orders["B1"].triggered
    assert fills_of(b.on_tick(tick(2, last_price=D("2436.00"), bid=D("2436.00"))))[0].price == (
        D("2436.00")
    )


def test_large_order_fills_partially_over_several_ticks_bounded_by_volume() -> None:
    b = book()
    place(b, quantity=250, order_type=OrderType.MARKET, price=None)
    statuses = []
    for n in range(1, 4):
        result = b.on_tick(tick(n, volume=100))
        statuses.append(events_of(result)[0].status)
    assert statuses == [
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    assert "B1" not in b.orders


def test_tick_volume_is_shared_in_time_priority() -> None:
    b = book()
    place(b, "B1", quantity=70, order_type=OrderType.MARKET, price=None)
    place(b, "B2", quantity=70, order_type=OrderType.MARKET, price=None)
    result = fills_of(b.on_tick(tick(1, volume=100)))
    assert [(f.broker_order_id, f.quantity) for f in result] == [("B1", 70), ("B2", 30)]


def test_zero_volume_tick_fills_nothing() -> None:
    b = book()
    place(b, order_type=OrderType.MARKET, price=None)
    assert b.on_tick(tick(1, volume=0)) == []


def test_ioc_leftover_is_cancelled_after_its_first_tick() -> None:
    b = book()
    place(b, quantity=150, duration=Duration.IOC, order_type=OrderType.MARKET, price=None)
    result = b.on_tick(tick(1, volume=100))
    assert [getattr(r, "status", "fill") for r in result] == [
        "fill",
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.CANCELLED,
    ]
    assert events_of(result)[-1].reason_code == ReasonCode.IOC_UNFILLED
    assert not b.orders


def test_cancel_removes_the_order_and_a_second_cancel_finds_nothing() -> None:
    b = book()
    place(b)
    events, refusal = b.cancel("B1", FIXED_NS + 1)
    assert (events[0].status, refusal) == (OrderStatus.CANCELLED, None)
    assert b.cancel("B1", FIXED_NS + 2) == ([], ReasonCode.ORDER_NOT_FOUND)


def test_day_end_expires_every_working_order_and_empties_the_book() -> None:
    b = book()
    place(b, "B1")
    place(b, "B2", duration=Duration.IOC)
    result = b.expire_day(FIXED_NS + 1)
    assert [(e.broker_order_id, e.status, e.reason_code) for e in result] == [
        ("B1", OrderStatus.EXPIRED, ReasonCode.DAY_END_EXPIRY),
        ("B2", OrderStatus.EXPIRED, ReasonCode.DAY_END_EXPIRY),
    ]
    assert not b.orders


def test_replayed_or_stale_tick_produces_no_fills() -> None:
    b = book()
    place(b, quantity=200, order_type=OrderType.MARKET, price=None)
    assert fills_of(b.on_tick(tick(5)))
    assert b.on_tick(tick(5)) == []
    assert b.on_tick(tick(4)) == []


def test_fees_come_from_the_fee_model_with_the_fixed_part_on_the_first_fill() -> None:
    fee_model = FeeModel(bps=D("10"), fixed_per_order=D("20"), minimum=D("5"))
    b = PaperBook("2885", Exchange.NSE, TICK, PaperConfig(fee_model=fee_model))
    place(b, quantity=2, order_type=OrderType.MARKET, price=None)
    first = fills_of(b.on_tick(tick(1, volume=1, ask=D("100"))))[0]
    second = fills_of(b.on_tick(tick(2, volume=1, ask=D("100"))))[0]
    assert (first.fee, second.fee) == (D("25.00"), D("5.00"))


def test_reason_strings_are_reason_codes() -> None:
    for value in (px.CANCEL_REQUESTED, px.IOC_UNFILLED, px.DAY_END_EXPIRY, px.ORDER_NOT_FOUND):
        assert ReasonCode(value)


def test_book_round_trips_through_json_mid_fill() -> None:
    b = book(slippage_bps=D("2"))
    place(b, quantity=250, order_type=OrderType.MARKET, price=None)
    place(b, "B2", price=D("2400.00"), duration=Duration.IOC)
    b.on_tick(tick(1, volume=100))
    restored = PaperBook.from_dict(json.loads(json.dumps(b.to_dict())))
    assert restored.to_dict() == b.to_dict()
    assert restored.on_tick(tick(2, volume=100)) == b.on_tick(tick(2, volume=100))


order_specs = st.lists(
    st.tuples(
        st.sampled_from(Side),
        st.integers(1, 300),
        st.sampled_from(list(OrderType)),
        st.integers(-20, 20),
        st.sampled_from(Duration),
    ),
    min_size=1,
    max_size=12,
)
tick_specs = st.lists(
    st.tuples(st.integers(-30, 30), st.integers(0, 200), st.booleans()), min_size=1, max_size=30
)


@settings(max_examples=200, deadline=None)
@given(orders=order_specs, ticks=tick_specs, expire=st.booleans())
def test_property_fills_never_exceed_order_quantity_nor_tick_volume(
    orders: list[tuple[Side, int, OrderType, int, Duration]],
    ticks: list[tuple[int, int, bool]],
    expire: bool,
) -> None:
    b = book(slippage_bps=D("5"))
    base = D("2450.00")
    quantities: dict[str, int] = {}
    statuses: dict[str, OrderStatus] = {}
    for i, (side, qty, otype, offset, duration) in enumerate(orders):
        level = base + offset * TICK
        price = level if otype in (OrderType.LIMIT, OrderType.STOPLOSS_LIMIT) else None
        trigger = level if otype in (OrderType.STOPLOSS_LIMIT, OrderType.STOPLOSS_MARKET) else None
        place(
            b,
            f"B{i}",
            side=side,
            quantity=qty,
            order_type=otype,
            price=price,
            trigger_price=trigger,
            duration=duration,
        )
        quantities[f"B{i}"] = qty
        statuses[f"B{i}"] = OrderStatus.ACCEPTED
    filled = dict.fromkeys(quantities, 0)
    for n, (move, volume, quoted) in enumerate(ticks, start=1):
        last = base + move * TICK
        t = make_tick(
            ts_event_ns=FIXED_NS + n,
            last_price=last,
            volume=volume,
            bid=last - TICK if quoted else None,
            ask=last + TICK if quoted else None,
        )
        results = b.on_tick(t)
        tick_fills = fills_of(results)
        assert sum(f.quantity for f in tick_fills) <= volume
        for f in tick_fills:
            filled[f.broker_order_id] += f.quantity
            assert f.quantity > 0
            assert f.price > 0
            assert f.price % TICK == 0
        for e in events_of(results):
            oid = e.broker_order_id or ""
            assert can_transition(statuses[oid], e.status)
            statuses[oid] = e.status
    if expire:
        for ev in b.expire_day(FIXED_NS + 10_000):
            assert can_transition(statuses[ev.broker_order_id or ""], ev.status)
    for oid, qty in quantities.items():
        assert filled[oid] <= qty
        assert (statuses[oid] is OrderStatus.FILLED) == (filled[oid] == qty)


def test_tick_of_another_instrument_is_ignored() -> None:
    b = book()
    place(b, order_type=OrderType.MARKET, price=None)
    assert b.on_tick(tick(1, instrument_token="3045")) == []
    assert b.orders["B1"].filled == 0
