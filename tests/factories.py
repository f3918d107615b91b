"""Deterministic builders for records and domain objects used across the test suites.

Every builder takes keyword overrides for any field; defaults describe a plain, valid
NSE RELIANCE (token 2885) order on 2026-11-21. Timestamps are fixed, never read from a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from typing import Any

from schemas.records import (
    CommandKind,
    ControlCommand,
    Duration,
    Exchange,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionSnapshot,
    Product,
    Side,
    Tick,
    TradingState,
    Variety,
)

__all__ = [
    "FIXED_NOW",
    "FIXED_NS",
    "make_command",
    "make_fill",
    "make_instrument",
    "make_intent",
    "make_order_event",
    "make_position_snapshot",
    "make_tick",
    "next_id",
]

FIXED_NOW = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)  # 09:30 IST
FIXED_NS = int(FIXED_NOW.timestamp()) * 1_000_000_000
_ids = count(1)


def next_id(prefix: str = "id") -> str:
    """A fresh, deterministic-per-run id: ``prefix-1``, ``prefix-2``, ..."""
    return f"{prefix}-{next(_ids)}"


def make_intent(**overrides: Any) -> OrderIntent:
    """A valid LIMIT BUY of 10 RELIANCE at 2450.00 (NSE, DELIVERY, DAY)."""
    intent_id = overrides.pop("intent_id", None) or next_id("intent")
    fields: dict[str, Any] = {
        "intent_id": intent_id,
        "account_id": "ACC1",
        "client_order_id": f"c-{intent_id}",
        "instrument_token": "2885",
        "exchange": Exchange.NSE,
        "side": Side.BUY,
        "quantity": 10,
        "order_type": OrderType.LIMIT,
        "variety": Variety.NORMAL,
        "product": Product.DELIVERY,
        "duration": Duration.DAY,
        "price": Decimal("2450.00"),
        "created_at": FIXED_NOW,
        "trace_id": f"trace-{intent_id}",
    }
    fields.update(overrides)
    return OrderIntent(**fields)


def make_tick(**overrides: Any) -> Tick:
    """A RELIANCE tick: last 2450.00, bid 2449.95, ask 2450.05, volume 100."""
    fields: dict[str, Any] = {
        "instrument_token": "2885",
        "exchange": Exchange.NSE,
        "ts_event_ns": FIXED_NS,
        "last_price": Decimal("2450.00"),
        "volume": 100,
        "bid": Decimal("2449.95"),
        "ask": Decimal("2450.05"),
        "created_at": FIXED_NOW,
    }
    fields.update(overrides)
    return Tick(**fields)


def make_fill(**overrides: Any) -> Fill:
    """A BUY fill of 10 RELIANCE at 2450.00, no fee."""
    fields: dict[str, Any] = {
        "fill_id": next_id("fill"),
        "intent_id": "intent-x",
        "broker_order_id": "P-intent-x",
        "account_id": "ACC1",
        "instrument_token": "2885",
        "exchange": Exchange.NSE,
        "side": Side.BUY,
        "quantity": 10,
        "price": Decimal("2450.00"),
        "fee": Decimal(0),
        "ts_event_ns": FIXED_NS,
        "created_at": FIXED_NOW,
    }
    fields.update(overrides)
    return Fill(**fields)


def make_order_event(**overrides: Any) -> OrderEvent:
    """A RECEIVED event for a 10-lot RELIANCE BUY."""
    fields: dict[str, Any] = {
        "event_id": next_id("event"),
        "intent_id": "intent-x",
        "account_id": "ACC1",
        "client_order_id": "c-intent-x",
        "instrument_token": "2885",
        "exchange": Exchange.NSE,
        "side": Side.BUY,
        "status": OrderStatus.RECEIVED,
        "seq": 0,
        "quantity": 10,
        "created_at": FIXED_NOW,
    }
    fields.update(overrides)
    return OrderEvent(**fields)


def make_position_snapshot(**overrides: Any) -> PositionSnapshot:
    """A flat RELIANCE position."""
    fields: dict[str, Any] = {
        "account_id": "ACC1",
        "instrument_token": "2885",
        "exchange": Exchange.NSE,
        "quantity": 0,
        "created_at": FIXED_NOW,
    }
    fields.update(overrides)
    return PositionSnapshot(**fields)


def make_command(**overrides: Any) -> ControlCommand:
    """A SET_TRADING_STATE HALTED command for ACC1."""
    fields: dict[str, Any] = {
        "command_id": next_id("cmd"),
        "account_id": "ACC1",
        "command": CommandKind.SET_TRADING_STATE,
        "actor": "ops",
        "trading_state": TradingState.HALTED,
        "created_at": FIXED_NOW,
    }
    fields.update(overrides)
    return ControlCommand(**fields)


def make_instrument(**overrides: Any) -> Any:
    """An ``Instrument`` (default: NSE RELIANCE-EQ, lot 1, tick 0.05)."""
    # imported here so the record builders work without the connectors package
    from connectors.instruments import Instrument

    fields: dict[str, Any] = {
        "token": "2885",
        "symbol": "RELIANCE-EQ",
        "name": "RELIANCE",
        "exchange": Exchange.NSE,
        "expiry": None,
        "strike": None,
        "lot_size": 1,
        "tick_size": Decimal("0.05"),
        "instrument_type": "",
        "is_derivative": False,
    }
    fields.update(overrides)
    return Instrument(**fields)
