"""Pure pre-trade risk checks: each returns a ``ReasonCode`` or None and changes nothing.

``check_order`` runs them in ``RISK_CHECK_ORDER``: the kill switch first (cheapest, and the
one that must never be masked), then the throttle, then checks on the order alone, then the
checks that need account aggregates. Orders that only *reduce* the absolute position (opposite
side, and together with the same-side open orders no larger than the position) are exempt
from the daily-loss, position and gross-exposure checks: filling them lowers exposure, and
they are how an account gets flat after a limit trips.

Reference price: LIMIT and STOPLOSS_LIMIT orders are valued at their limit price,
STOPLOSS_MARKET at the trigger, MARKET at the last traded price. A MARKET order with no last
price is denied (NO_REFERENCE_PRICE): it could not be valued for notional or exposure. The
fat-finger band compares the order's own price (limit, or trigger for STOPLOSS_MARKET) with
the last price and is skipped when no last price is known yet (the limit bounds the order).
"""

from __future__ import annotations

from bisect import bisect_right
from decimal import Decimal

from agents.reasons import ReasonCode
from agents.risk.state import AccountRisk, InstrumentRisk, RiskLimits, instrument_key, trading_day
from schemas.records import OrderIntent, OrderType, Side, TradingState

__all__ = [
    "RATE_WINDOW_NS",
    "RISK_CHECK_ORDER",
    "check_daily_loss",
    "check_fat_finger",
    "check_gross_exposure",
    "check_notional",
    "check_open_orders",
    "check_order",
    "check_position",
    "check_rate",
    "check_trading_state",
    "is_reducing",
    "order_price",
    "reference_price",
]

RATE_WINDOW_NS = 1_000_000_000
RISK_CHECK_ORDER: tuple[ReasonCode, ...] = (
    ReasonCode.TRADING_HALTED,
    ReasonCode.REDUCING_ONLY,
    ReasonCode.RATE_LIMITED,
    ReasonCode.NO_REFERENCE_PRICE,
    ReasonCode.FAT_FINGER,
    ReasonCode.MAX_NOTIONAL,
    ReasonCode.MAX_OPEN_ORDERS,
    ReasonCode.DAILY_LOSS_LIMIT,
    ReasonCode.MAX_POSITION,
    ReasonCode.MAX_GROSS_EXPOSURE,
)
_HUNDRED = Decimal(100)
_EMPTY = InstrumentRisk()


def order_price(intent: OrderIntent) -> Decimal | None:
    """The price the order names: its limit, or the trigger of a STOPLOSS_MARKET."""
    if intent.order_type is OrderType.STOPLOSS_MARKET:
        return intent.trigger_price or None
    return intent.price or None


def reference_price(intent: OrderIntent, last_price: Decimal | None) -> Decimal | None:
    """The price the order is valued at; MARKET orders use ``last_price``."""
    if intent.order_type is OrderType.MARKET:
        return last_price
    return order_price(intent)


def is_reducing(intent: OrderIntent, state: AccountRisk) -> bool:
    """Whether the order can only shrink the absolute position, even if every open order
    on the same side fills first."""
    inst = state.instruments.get(instrument_key(intent.exchange, intent.instrument_token))
    if inst is None:
        return False
    if intent.side is Side.BUY:
        return inst.quantity < 0 and intent.quantity + inst.open_buy <= -inst.quantity
    return inst.quantity > 0 and intent.quantity + inst.open_sell <= inst.quantity


def check_trading_state(
    intent: OrderIntent, state: AccountRisk, global_state: TradingState
) -> ReasonCode | None:
    """HALTED (account or global) denies all; REDUCING passes only reducing orders."""
    account_state = state.trading_state
    if global_state is TradingState.HALTED or account_state is TradingState.HALTED:
        return ReasonCode.TRADING_HALTED
    if (
        global_state is TradingState.REDUCING or account_state is TradingState.REDUCING
    ) and not is_reducing(intent, state):
        return ReasonCode.REDUCING_ONLY
    return None


def check_rate(state: AccountRisk, limits: RiskLimits, now_ns: int) -> ReasonCode | None:
    """At most ``max_orders_per_second`` approvals in the sliding second ending at now."""
    times = state.order_times_ns
    in_window = len(times) - bisect_right(times, now_ns - RATE_WINDOW_NS)
    return ReasonCode.RATE_LIMITED if in_window >= limits.max_orders_per_second else None


def check_fat_finger(
    intent: OrderIntent, limits: RiskLimits, last_price: Decimal | None
) -> ReasonCode | None:
    """The order's price within ``fat_finger_pct`` percent of the last traded price."""
    price = order_price(intent)
    if price is None or last_price is None or not last_price:
        return None
    if abs(price - last_price) * _HUNDRED > limits.fat_finger_pct * last_price:
        return ReasonCode.FAT_FINGER
    return None


def check_notional(notional: Decimal, limits: RiskLimits) -> ReasonCode | None:
    """Order notional (quantity x reference price) within the per-order limit."""
    return ReasonCode.MAX_NOTIONAL if notional > limits.max_order_notional else None


def check_open_orders(state: AccountRisk, limits: RiskLimits) -> ReasonCode | None:
    """Fewer open orders than the limit (this order would be one more)."""
    return ReasonCode.MAX_OPEN_ORDERS if len(state.open_orders) >= limits.max_open_orders else None


def check_daily_loss(state: AccountRisk, limits: RiskLimits, now_ns: int) -> ReasonCode | None:
    """Today's net realised loss below the limit (yesterday's P&L does not count)."""
    if state.pnl_day != trading_day(now_ns):
        return None
    loss = -state.realised_today
    # "reached" needs an actual loss: a limit of 0 means no loss allowed, not no trading
    if loss > 0 and loss >= limits.max_daily_loss:
        return ReasonCode.DAILY_LOSS_LIMIT
    return None


def check_position(
    intent: OrderIntent, state: AccountRisk, limits: RiskLimits
) -> ReasonCode | None:
    """|position + same-side open orders + this order| within the per-instrument limit."""
    inst = state.instruments.get(instrument_key(intent.exchange, intent.instrument_token), _EMPTY)
    if intent.side is Side.BUY:
        projected = inst.quantity + inst.open_buy + intent.quantity
    else:
        projected = inst.quantity - inst.open_sell - intent.quantity
    return ReasonCode.MAX_POSITION if abs(projected) > limits.max_position_qty else None


def check_gross_exposure(
    notional: Decimal, state: AccountRisk, limits: RiskLimits
) -> ReasonCode | None:
    """Marked positions + open orders + this order within the account's gross limit."""
    if state.position_exposure + state.open_notional + notional > limits.max_gross_exposure:
        return ReasonCode.MAX_GROSS_EXPOSURE
    return None


def check_order(
    intent: OrderIntent,
    state: AccountRisk,
    limits: RiskLimits,
    now_ns: int,
    last_price: Decimal | None,
    *,
    global_state: TradingState = TradingState.ACTIVE,
) -> ReasonCode | None:
    """Every pre-trade check in ``RISK_CHECK_ORDER``; the first denial, or None to approve.

    ``state`` is the account's ``AccountRisk``, ``limits`` its effective limits
    (``limits_for``), ``last_price`` the instrument's last traded price (or None) and
    ``global_state`` the trading state of ``GLOBAL_ACCOUNT``.
    """
    code = check_trading_state(intent, state, global_state)
    if code is not None:
        return code
    code = check_rate(state, limits, now_ns)
    if code is not None:
        return code
    ref = reference_price(intent, last_price)
    if ref is None:
        return ReasonCode.NO_REFERENCE_PRICE
    code = check_fat_finger(intent, limits, last_price)
    if code is not None:
        return code
    notional = ref * intent.quantity
    code = check_notional(notional, limits)
    if code is not None:
        return code
    code = check_open_orders(state, limits)
    if code is not None:
        return code
    if is_reducing(intent, state):
        return None
    code = check_daily_loss(state, limits, now_ns)
    if code is not None:
        return code
    code = check_position(intent, state, limits)
    if code is not None:
        return code
    return check_gross_exposure(notional, state, limits)
