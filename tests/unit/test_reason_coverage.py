"""Every ReasonCode has a scenario that provokes it through the real decision functions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from agents.lifecycle import OrderState, apply_fill, refusal_reason, transition
from agents.reasons import ReasonCode, route_failure
from agents.risk import AccountRisk, RiskLimits, apply_control, check_order, on_approved, on_fill
from agents.validation import validate
from connectors.instruments import InstrumentMaster
from connectors.paper_exchange import PaperBook, PaperOrder
from schemas.records import (
    CommandKind,
    Duration,
    Exchange,
    OrderEvent,
    OrderStatus,
    OrderType,
    Product,
    Side,
    TradingState,
    Variety,
)
from streams.errors import IllegalTransition, VenueError
from tests.factories import FIXED_NS, make_command, make_fill, make_intent, make_tick

MASTER = InstrumentMaster.sample()
TODAY = date(2026, 11, 21)
LIMITS = RiskLimits()
LAST = Decimal("2450.00")


def _v(**overrides: object) -> ReasonCode | None:
    intent = make_intent(**overrides)
    inst = MASTER.find(intent.exchange, intent.instrument_token)
    return validate(intent, inst, today=TODAY, seen_client_order_ids={"dup"})


def _r(
    state: AccountRisk | None = None,
    limits: RiskLimits = LIMITS,
    last: Decimal | None = LAST,
    global_state: TradingState = TradingState.ACTIVE,
    **overrides: object,
) -> ReasonCode | None:
    return check_order(
        make_intent(**overrides),
        state or AccountRisk("ACC1"),
        limits,
        FIXED_NS,
        last,
        global_state=global_state,
    )


def _state(**fields: object) -> AccountRisk:
    state = AccountRisk("ACC1")
    for k, v in fields.items():
        setattr(state, k, v)
    return state


def _rate_limited() -> ReasonCode | None:
    state = AccountRisk("ACC1")
    limits = RiskLimits(max_orders_per_second=2)
    for _ in range(2):
        on_approved(state, make_intent(), FIXED_NS, LAST)
    return _r(state, limits)


def _max_open_orders() -> ReasonCode | None:
    state = AccountRisk("ACC1")
    on_approved(state, make_intent(), FIXED_NS - 5 * 10**9, LAST)
    return _r(state, RiskLimits(max_open_orders=1))


def _daily_loss() -> ReasonCode | None:
    state = AccountRisk("ACC1")
    on_fill(state, make_fill(side=Side.BUY, quantity=10, price=Decimal("100")))
    on_fill(state, make_fill(side=Side.SELL, quantity=10, price=Decimal("90")))
    return _r(state, RiskLimits(max_daily_loss=Decimal("100")))


def _max_position() -> ReasonCode | None:
    return _r(limits=RiskLimits(max_position_qty=5))


def _max_gross() -> ReasonCode | None:
    return _r(limits=RiskLimits(max_gross_exposure=Decimal("1000")))


def _paper(action: str) -> str | None:
    book = PaperBook("2885", Exchange.NSE, Decimal("0.05"))
    duration = Duration.IOC if action == "ioc" else Duration.DAY
    intent = make_intent(duration=duration, price=Decimal("2000.00"))
    book.on_order(PaperOrder.from_intent(intent, broker_order_id="B1", seq=3), FIXED_NS)
    if action == "ioc":
        last = book.on_tick(make_tick(ts_event_ns=FIXED_NS + 1))[-1]
        assert isinstance(last, OrderEvent)
        return last.reason_code
    if action == "expire":
        return book.expire_day(FIXED_NS + 1)[-1].reason_code
    if action == "missing":
        return book.cancel("nope", FIXED_NS + 1)[1]
    return book.cancel("B1", FIXED_NS + 1)[0][0].reason_code


def _illegal() -> ReasonCode:
    try:
        transition(OrderStatus.FILLED, OrderStatus.CANCELLED)
    except IllegalTransition as exc:
        return refusal_reason(exc)
    raise AssertionError("transition allowed")


def _overfill() -> ReasonCode:
    state = OrderState.from_intent(make_intent(quantity=10))
    for status in (OrderStatus.VALIDATED, OrderStatus.APPROVED, OrderStatus.ROUTED):
        state = state.advance(status)
    try:
        apply_fill(state, make_fill(quantity=11))
    except IllegalTransition as exc:
        return refusal_reason(exc)
    raise AssertionError("overfill allowed")


SCENARIOS: dict[ReasonCode, Callable[[], object]] = {
    ReasonCode.MALFORMED_FIELD: lambda: _v(symbol="RELIANCE-EQ\x00"),
    ReasonCode.UNKNOWN_EXCHANGE: lambda: _v(exchange="XYZ"),
    ReasonCode.UNKNOWN_INSTRUMENT: lambda: _v(instrument_token="999999"),
    ReasonCode.EXCHANGE_MISMATCH: lambda: _v(exchange=Exchange.BSE),
    ReasonCode.SYMBOL_MISMATCH: lambda: _v(symbol="SBIN-EQ"),
    ReasonCode.DERIVATIVE_EXPIRED: lambda: _v(
        exchange=Exchange.NFO,
        instrument_token="35012",
        quantity=75,
        product=Product.CARRYFORWARD,
        price=Decimal("24000.00"),
    ),
    ReasonCode.QTY_NOT_POSITIVE: lambda: _v(quantity=0),
    ReasonCode.QTY_NOT_LOT_MULTIPLE: lambda: _v(
        exchange=Exchange.NFO,
        instrument_token="35001",
        quantity=50,
        product=Product.CARRYFORWARD,
        price=Decimal("24000.00"),
    ),
    ReasonCode.LIMIT_NEEDS_PRICE: lambda: _v(price=None),
    ReasonCode.MARKET_HAS_PRICE: lambda: _v(order_type=OrderType.MARKET),
    ReasonCode.STOP_NEEDS_TRIGGER: lambda: _v(
        order_type=OrderType.STOPLOSS_LIMIT, variety=Variety.STOPLOSS
    ),
    ReasonCode.TRIGGER_NOT_ALLOWED: lambda: _v(trigger_price=Decimal("2400.00")),
    ReasonCode.PRICE_NOT_POSITIVE: lambda: _v(price=Decimal("-1.00")),
    ReasonCode.TRIGGER_NOT_POSITIVE: lambda: _v(
        order_type=OrderType.STOPLOSS_LIMIT,
        variety=Variety.STOPLOSS,
        trigger_price=Decimal("-5.00"),
    ),
    ReasonCode.PRICE_NOT_ON_TICK: lambda: _v(price=Decimal("2450.03")),
    ReasonCode.TRIGGER_NOT_ON_TICK: lambda: _v(
        order_type=OrderType.STOPLOSS_LIMIT,
        variety=Variety.STOPLOSS,
        trigger_price=Decimal("2440.01"),
    ),
    ReasonCode.TRIGGER_WRONG_SIDE: lambda: _v(
        order_type=OrderType.STOPLOSS_LIMIT,
        variety=Variety.STOPLOSS,
        trigger_price=Decimal("2460.00"),
    ),
    ReasonCode.VARIETY_NOT_ALLOWED: lambda: _v(variety=Variety.STOPLOSS),
    ReasonCode.PRODUCT_NOT_ALLOWED: lambda: _v(product=Product.CARRYFORWARD),
    ReasonCode.DUPLICATE_CLIENT_ORDER_ID: lambda: _v(client_order_id="dup"),
    ReasonCode.TRADING_HALTED: lambda: _r(global_state=TradingState.HALTED),
    ReasonCode.REDUCING_ONLY: lambda: _r(_state(trading_state=TradingState.REDUCING)),
    ReasonCode.RATE_LIMITED: _rate_limited,
    ReasonCode.NO_REFERENCE_PRICE: lambda: _r(last=None, order_type=OrderType.MARKET, price=None),
    ReasonCode.FAT_FINGER: lambda: _r(price=Decimal("3000.00")),
    ReasonCode.MAX_NOTIONAL: lambda: _r(limits=RiskLimits(max_order_notional=Decimal("100"))),
    ReasonCode.MAX_OPEN_ORDERS: _max_open_orders,
    ReasonCode.DAILY_LOSS_LIMIT: _daily_loss,
    ReasonCode.MAX_POSITION: _max_position,
    ReasonCode.MAX_GROSS_EXPOSURE: _max_gross,
    ReasonCode.NO_VENUE: lambda: route_failure(None),
    ReasonCode.VENUE_UNAVAILABLE: lambda: route_failure(VenueError("timeout", retriable=True)),
    ReasonCode.VENUE_REJECTED: lambda: route_failure(VenueError("RMS: blocked")),
    ReasonCode.CANCEL_REQUESTED: lambda: _paper("cancel"),
    ReasonCode.IOC_UNFILLED: lambda: _paper("ioc"),
    ReasonCode.DAY_END_EXPIRY: lambda: _paper("expire"),
    ReasonCode.ORDER_NOT_FOUND: lambda: _paper("missing"),
    ReasonCode.ILLEGAL_TRANSITION: _illegal,
    ReasonCode.OVERFILL: _overfill,
    ReasonCode.INVALID_LIMITS: lambda: apply_control(
        AccountRisk("ACC1"),
        make_command(command=CommandKind.SET_LIMITS, limits={"max_open_orders": "lots"}),
        LIMITS,
    ),
    ReasonCode.INVALID_COMMAND: lambda: apply_control(
        AccountRisk("ACC1"), make_command(trading_state=None), LIMITS
    ),
}


def test_every_reason_code_has_a_provoking_scenario() -> None:
    assert set(SCENARIOS) == set(ReasonCode)


@pytest.mark.parametrize("code", list(ReasonCode), ids=str)
def test_scenario_provokes_exactly_its_reason_code(code: ReasonCode) -> None:
    produced = SCENARIOS[code]()
    assert produced == code
