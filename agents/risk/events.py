"""Apply pipeline events to an ``AccountRisk``: approvals, fills, order closes, marks and
control commands.

These are the only writers of risk state. They mutate the state in place (it is the Faust
table's value; the agent writes it back) and return it; they read no clock: times come in as
``now_ns`` or from the event. Fills are idempotent on ``fill_id`` (the last ``FILL_MEMORY``
fill ids are remembered), approvals on ``intent_id``.
"""

from __future__ import annotations

from bisect import insort
from decimal import Decimal

from agents.positions import apply_trade, signed_quantity
from agents.reasons import ReasonCode
from agents.risk.checks import RATE_WINDOW_NS, reference_price
from agents.risk.state import (
    FILL_MEMORY,
    AccountRisk,
    InstrumentRisk,
    OpenOrder,
    RiskLimits,
    instrument_key,
    trading_day,
)
from schemas.records import CommandKind, ControlCommand, Fill, OrderIntent, Side

__all__ = ["apply_control", "on_approved", "on_fill", "on_mark", "on_order_closed"]


def _instrument(state: AccountRisk, key: str) -> InstrumentRisk:
    inst = state.instruments.get(key)
    if inst is None:
        inst = state.instruments[key] = InstrumentRisk()
    return inst


def on_approved(
    state: AccountRisk, intent: OrderIntent, now_ns: int, last_price: Decimal | None
) -> AccountRisk:
    """Record an approved order: open order, open quantity, open notional, rate window.

    ``last_price`` must be the one ``check_order`` saw (MARKET orders are valued at it).
    """
    if intent.intent_id in state.open_orders:
        return state
    price = reference_price(intent, last_price) or Decimal(0)
    key = instrument_key(intent.exchange, intent.instrument_token)
    order = OpenOrder(intent.intent_id, key, intent.side, intent.quantity, price)
    state.open_orders[intent.intent_id] = order
    inst = _instrument(state, key)
    if intent.side is Side.BUY:
        inst.open_buy += intent.quantity
    else:
        inst.open_sell += intent.quantity
    state.open_notional += order.notional
    times = state.order_times_ns
    insort(times, now_ns)
    # only the last second matters to the throttle; drop the rest so the list stays short
    cutoff = now_ns - RATE_WINDOW_NS
    drop = 0
    while drop < len(times) and times[drop] <= cutoff:
        drop += 1
    if drop:
        del times[:drop]
    return state


def _release(state: AccountRisk, order: OpenOrder, quantity: int) -> None:
    """Take ``quantity`` off an open order and the aggregates; drop it when it reaches 0."""
    quantity = min(quantity, order.quantity)
    inst = _instrument(state, order.key)
    if order.side is Side.BUY:
        inst.open_buy -= quantity
    else:
        inst.open_sell -= quantity
    state.open_notional -= order.price * quantity
    order.quantity -= quantity
    if order.quantity == 0:
        del state.open_orders[order.intent_id]


def on_order_closed(state: AccountRisk, intent_id: str) -> AccountRisk:
    """A CANCELLED / REJECTED / EXPIRED / ROUTE_FAILED order no longer counts as open."""
    order = state.open_orders.get(intent_id)
    if order is not None:
        _release(state, order, order.quantity)
    return state


def _set_exposure(state: AccountRisk, inst: InstrumentRisk, update: InstrumentRisk) -> None:
    before = inst.exposure
    inst.quantity, inst.cost, inst.mark = update.quantity, update.cost, update.mark
    state.position_exposure += inst.exposure - before


def on_fill(state: AccountRisk, fill: Fill, now_ns: int | None = None) -> AccountRisk:
    """Apply a fill: position, mark (the fill price), open order, today's net realised P&L.

    The day of the P&L is that of ``fill.ts_event_ns`` (or ``now_ns`` when the fill has no
    event time); a fill on a new day starts the day's P&L from zero.
    """
    if fill.fill_id in state.recent_fill_ids:
        return state
    ids = state.recent_fill_ids
    ids[fill.fill_id] = None
    if len(ids) > FILL_MEMORY:
        del ids[next(iter(ids))]
    key = instrument_key(fill.exchange, fill.instrument_token)
    inst = _instrument(state, key)
    qty, cost, realised = apply_trade(
        inst.quantity, inst.cost, signed_quantity(fill.side, fill.quantity), fill.price
    )
    _set_exposure(state, inst, InstrumentRisk(qty, cost, fill.price))
    order = state.open_orders.get(fill.intent_id)
    if order is not None:
        _release(state, order, fill.quantity)
    day = trading_day(fill.ts_event_ns or now_ns or 0)
    if day != state.pnl_day:
        if day < state.pnl_day:
            # a late fill from an earlier day does not touch today's loss budget
            return state
        state.pnl_day = day
        state.realised_today = Decimal(0)
    state.realised_today += realised - fill.fee
    return state


def on_mark(state: AccountRisk, exchange: str, token: str, last_price: Decimal) -> AccountRisk:
    """Re-mark a held position to a new last price (keeps gross exposure current)."""
    inst = state.instruments.get(instrument_key(exchange, token))
    if inst is not None and inst.quantity:
        _set_exposure(state, inst, InstrumentRisk(inst.quantity, inst.cost, last_price))
    return state


def apply_control(
    state: AccountRisk, command: ControlCommand, defaults: RiskLimits
) -> ReasonCode | None:
    """Apply SET_TRADING_STATE / SET_LIMITS; a refusal returns its reason (to audit).

    SET_LIMITS merges into the existing overrides; a value of ``""`` removes an override.
    CANCEL_ORDER is not a risk command (the router handles it) and is ignored here.
    """
    if command.command is CommandKind.SET_TRADING_STATE:
        if command.trading_state is None:
            return ReasonCode.INVALID_COMMAND
        state.trading_state = command.trading_state
        return None
    if command.command is CommandKind.SET_LIMITS:
        if not command.limits:
            return ReasonCode.INVALID_COMMAND
        merged = dict(state.limit_overrides)
        for name, value in command.limits.items():
            if value == "":
                merged.pop(name, None)
            else:
                merged[name] = value
        try:
            defaults.with_overrides(merged)
        except ValueError:
            return ReasonCode.INVALID_LIMITS
        state.limit_overrides = merged
        state._limits_cache = None
        return None
    if command.command is CommandKind.CANCEL_ORDER:
        return None
    return ReasonCode.INVALID_COMMAND
