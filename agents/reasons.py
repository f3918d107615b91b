"""Every reason code the order pipeline emits: rejections, denials, route failures, cancels.

One enumeration, so the sink, dashboards and producers share one vocabulary. Each member
carries a one-line description (``ReasonCode.FAT_FINGER.description``); ``docs/reason-codes.md``
is generated from it (``render_markdown``) and a unit test keeps the two in step.
"""

from __future__ import annotations

from enum import StrEnum

from streams.errors import TradepipeError

__all__ = ["ReasonCode", "Stage", "render_markdown", "route_failure"]


class Stage(StrEnum):
    """Which stage emits a code (the order event's ``stage``)."""

    VALIDATION = "validation"
    RISK = "risk"
    ROUTING = "routing"
    VENUE = "venue"
    LIFECYCLE = "lifecycle"
    CONTROL = "control"


class ReasonCode(StrEnum):
    """Machine-readable reason on a REJECTED / DENIED / ROUTE_FAILED / CANCELLED event."""

    # validation (REJECTED)
    MALFORMED_FIELD = "MALFORMED_FIELD"
    UNKNOWN_EXCHANGE = "UNKNOWN_EXCHANGE"
    UNKNOWN_INSTRUMENT = "UNKNOWN_INSTRUMENT"
    EXCHANGE_MISMATCH = "EXCHANGE_MISMATCH"
    SYMBOL_MISMATCH = "SYMBOL_MISMATCH"
    DERIVATIVE_EXPIRED = "DERIVATIVE_EXPIRED"
    QTY_NOT_POSITIVE = "QTY_NOT_POSITIVE"
    QTY_NOT_LOT_MULTIPLE = "QTY_NOT_LOT_MULTIPLE"
    LIMIT_NEEDS_PRICE = "LIMIT_NEEDS_PRICE"
    MARKET_HAS_PRICE = "MARKET_HAS_PRICE"
    STOP_NEEDS_TRIGGER = "STOP_NEEDS_TRIGGER"
    TRIGGER_NOT_ALLOWED = "TRIGGER_NOT_ALLOWED"
    PRICE_NOT_POSITIVE = "PRICE_NOT_POSITIVE"
    TRIGGER_NOT_POSITIVE = "TRIGGER_NOT_POSITIVE"
    PRICE_NOT_ON_TICK = "PRICE_NOT_ON_TICK"
    TRIGGER_NOT_ON_TICK = "TRIGGER_NOT_ON_TICK"
    TRIGGER_WRONG_SIDE = "TRIGGER_WRONG_SIDE"
    VARIETY_NOT_ALLOWED = "VARIETY_NOT_ALLOWED"
    PRODUCT_NOT_ALLOWED = "PRODUCT_NOT_ALLOWED"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    # pre-trade risk (DENIED)
    TRADING_HALTED = "TRADING_HALTED"
    REDUCING_ONLY = "REDUCING_ONLY"
    RATE_LIMITED = "RATE_LIMITED"
    NO_REFERENCE_PRICE = "NO_REFERENCE_PRICE"
    FAT_FINGER = "FAT_FINGER"
    MAX_NOTIONAL = "MAX_NOTIONAL"
    MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    MAX_POSITION = "MAX_POSITION"
    MAX_GROSS_EXPOSURE = "MAX_GROSS_EXPOSURE"
    # routing (ROUTE_FAILED)
    NO_VENUE = "NO_VENUE"
    VENUE_UNAVAILABLE = "VENUE_UNAVAILABLE"
    VENUE_REJECTED = "VENUE_REJECTED"
    # venue / paper exchange (CANCELLED, EXPIRED, cancel refusals)
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    IOC_UNFILLED = "IOC_UNFILLED"
    DAY_END_EXPIRY = "DAY_END_EXPIRY"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    # lifecycle and control (audited refusals)
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    OVERFILL = "OVERFILL"
    INVALID_LIMITS = "INVALID_LIMITS"
    INVALID_COMMAND = "INVALID_COMMAND"

    @property
    def description(self) -> str:
        """One line saying what the code means and what to do about it."""
        return _DESCRIPTIONS[self][1]

    @property
    def stage(self) -> Stage:
        """The stage that emits this code."""
        return _DESCRIPTIONS[self][0]


_V, _R, _T, _X, _L, _C = (
    Stage.VALIDATION,
    Stage.RISK,
    Stage.ROUTING,
    Stage.VENUE,
    Stage.LIFECYCLE,
    Stage.CONTROL,
)

_DESCRIPTIONS: dict[ReasonCode, tuple[Stage, str]] = {
    ReasonCode.MALFORMED_FIELD: (
        _V,
        "a field breaks the intent contract (an id, token, symbol, tag, source or trace id off "
        "its pattern or length, control or bidi characters, a quantity or price out of range); "
        "the event's reason names the field",
    ),
    ReasonCode.UNKNOWN_EXCHANGE: (_V, "exchange is not one of NSE, BSE, NFO, BFO, MCX, CDS"),
    ReasonCode.UNKNOWN_INSTRUMENT: (_V, "instrument token not in the instrument master"),
    ReasonCode.EXCHANGE_MISMATCH: (_V, "instrument exists, but on another exchange segment"),
    ReasonCode.SYMBOL_MISMATCH: (_V, "symbol given does not match the instrument's symbol"),
    ReasonCode.DERIVATIVE_EXPIRED: (_V, "derivative's expiry date is before the trading day"),
    ReasonCode.QTY_NOT_POSITIVE: (_V, "quantity must be greater than zero"),
    ReasonCode.QTY_NOT_LOT_MULTIPLE: (_V, "quantity must be a whole multiple of the lot size"),
    ReasonCode.LIMIT_NEEDS_PRICE: (_V, "LIMIT and STOPLOSS_LIMIT orders need a price"),
    ReasonCode.MARKET_HAS_PRICE: (_V, "MARKET and STOPLOSS_MARKET orders must not carry a price"),
    ReasonCode.STOP_NEEDS_TRIGGER: (_V, "STOPLOSS_LIMIT and STOPLOSS_MARKET orders need a trigger"),
    ReasonCode.TRIGGER_NOT_ALLOWED: (_V, "only stop-loss orders may carry a trigger price"),
    ReasonCode.PRICE_NOT_POSITIVE: (_V, "price must be a finite number greater than zero"),
    ReasonCode.TRIGGER_NOT_POSITIVE: (_V, "trigger must be a finite number greater than zero"),
    ReasonCode.PRICE_NOT_ON_TICK: (_V, "price is not a multiple of the instrument's tick size"),
    ReasonCode.TRIGGER_NOT_ON_TICK: (_V, "trigger is not a multiple of the instrument's tick size"),
    ReasonCode.TRIGGER_WRONG_SIDE: (
        _V,
        "stop-limit trigger on the wrong side of the limit (BUY needs trigger <= price, "
        "SELL needs trigger >= price)",
    ),
    ReasonCode.VARIETY_NOT_ALLOWED: (
        _V,
        "variety does not fit the order type, product or segment (see docs/order-pipeline.md)",
    ),
    ReasonCode.PRODUCT_NOT_ALLOWED: (_V, "product not allowed on this exchange segment"),
    ReasonCode.DUPLICATE_CLIENT_ORDER_ID: (
        _V,
        "client_order_id already used by an accepted intent of this account",
    ),
    ReasonCode.TRADING_HALTED: (_R, "trading is HALTED for the account or globally (kill switch)"),
    ReasonCode.REDUCING_ONLY: (
        _R,
        "trading state is REDUCING: only orders that shrink the absolute position pass",
    ),
    ReasonCode.RATE_LIMITED: (_R, "account sent more approved orders than its per-second limit"),
    ReasonCode.NO_REFERENCE_PRICE: (
        _R,
        "MARKET order and no last traded price to value it against",
    ),
    ReasonCode.FAT_FINGER: (_R, "price is outside the band around the last traded price"),
    ReasonCode.MAX_NOTIONAL: (_R, "order notional exceeds the per-order limit"),
    ReasonCode.MAX_OPEN_ORDERS: (_R, "account already has the maximum number of open orders"),
    ReasonCode.DAILY_LOSS_LIMIT: (
        _R,
        "today's realised loss reached the limit; only reducing orders pass",
    ),
    ReasonCode.MAX_POSITION: (
        _R,
        "position plus open orders on the instrument would exceed the position limit",
    ),
    ReasonCode.MAX_GROSS_EXPOSURE: (
        _R,
        "gross exposure (positions plus open orders) would exceed the account limit",
    ),
    ReasonCode.NO_VENUE: (_T, "no venue configured for the account"),
    ReasonCode.VENUE_UNAVAILABLE: (_T, "venue unreachable or timed out (retriable error)"),
    ReasonCode.VENUE_REJECTED: (_T, "venue refused the order (non-retriable error)"),
    ReasonCode.CANCEL_REQUESTED: (_X, "cancelled on request (CANCEL_ORDER command)"),
    ReasonCode.IOC_UNFILLED: (_X, "IOC order: quantity left after the first tick is cancelled"),
    ReasonCode.DAY_END_EXPIRY: (_X, "DAY order still working at the end of the day"),
    ReasonCode.ORDER_NOT_FOUND: (_X, "cancel for an order the venue does not hold"),
    ReasonCode.ILLEGAL_TRANSITION: (_L, "order state machine refused the transition (audited)"),
    ReasonCode.OVERFILL: (_L, "fill would take filled quantity past the order quantity"),
    ReasonCode.INVALID_LIMITS: (_C, "SET_LIMITS command names an unknown limit or a bad value"),
    ReasonCode.INVALID_COMMAND: (_C, "control command lacks a field it needs"),
}


def render_markdown() -> str:
    """The ``docs/reason-codes.md`` text, generated from the enumeration."""
    lines = [
        "# Reason codes",
        "",
        "Generated from `agents/reasons.py` (`ReasonCode`); "
        "`tests/unit/test_reasons.py` fails when this file is stale.",
        'Regenerate: `python -c "from agents.reasons import render_markdown as r; '
        "open('docs/reason-codes.md','w').write(r())\"`.",
        "",
        "| code | stage | meaning |",
        "|---|---|---|",
    ]
    lines.extend(f"| `{code}` | {code.stage} | {code.description} |" for code in ReasonCode)
    return "\n".join(lines) + "\n"


def route_failure(error: TradepipeError | None) -> ReasonCode:
    """The ROUTE_FAILED reason: no venue configured (``None``), or the venue's error by its
    ``retriable`` flag (unavailable vs rejected)."""
    if error is None:
        return ReasonCode.NO_VENUE
    return ReasonCode.VENUE_UNAVAILABLE if error.retriable else ReasonCode.VENUE_REJECTED
