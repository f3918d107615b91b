"""Deterministic record builders for the sink's tests (no clock reads, no randomness)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from schemas.records import (
    AuditEvent,
    CommandKind,
    ControlCommand,
    Exchange,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionSnapshot,
    Side,
    TradingState,
)

__all__ = [
    "BASE_TIME",
    "make_audit",
    "make_command",
    "make_fill",
    "make_intent",
    "make_order_event",
    "make_position",
]

BASE_TIME = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)


def _at(n: int) -> datetime:
    return BASE_TIME + timedelta(microseconds=n)


def make_intent(n: int, *, account: str | None = None) -> OrderIntent:
    """The n-th order intent of a test day."""
    return OrderIntent(
        intent_id=f"int-{n:08d}",
        account_id=account or f"ACC{n % 7}",
        client_order_id=f"coid-{n:08d}",
        instrument_token=str(2885 + n % 11),
        exchange=Exchange.NSE,
        side=Side.BUY if n % 2 else Side.SELL,
        quantity=1 + n % 50,
        order_type=OrderType.LIMIT,
        price=Decimal("101.2500") + n % 13,
        created_at=_at(n),
        trace_id=f"tr-{n}",
    )


def make_order_event(
    n: int, *, seq: int = 1, status: OrderStatus = OrderStatus.RECEIVED, intent: int | None = None
) -> OrderEvent:
    """An order lifecycle event: intent ``intent`` (default n), transition ``seq``."""
    i = n if intent is None else intent
    return OrderEvent(
        event_id=f"ev-{n:08d}-{seq}",
        intent_id=f"int-{i:08d}",
        account_id=f"ACC{i % 7}",
        client_order_id=f"coid-{i:08d}",
        instrument_token=str(2885 + i % 11),
        exchange=Exchange.NSE,
        side=Side.BUY,
        status=status,
        seq=seq,
        quantity=10,
        filled_quantity=0,
        leaves_quantity=10,
        price=Decimal("2450.0500"),
        reason_code="QTY" if status is OrderStatus.REJECTED else None,
        stage="validate",
        created_at=_at(n * 10 + seq),
        trace_id=f"tr-{i}",
    )


def make_fill(n: int) -> Fill:
    """The n-th fill."""
    return Fill(
        fill_id=f"fill-{n:08d}",
        intent_id=f"int-{n:08d}",
        broker_order_id=f"bo-{n}",
        account_id=f"ACC{n % 7}",
        instrument_token=str(2885 + n % 11),
        exchange=Exchange.NSE,
        side=Side.BUY,
        quantity=5,
        price=Decimal("99.9500"),
        fee=Decimal("0.2000"),
        ts_event_ns=1_700_000_000_000_000_000 + n,
        created_at=_at(n),
        trace_id=f"tr-{n}",
    )


def make_position(
    n: int, *, version: int = 1, account: str = "ACC1", instrument: str = "2885"
) -> PositionSnapshot:
    """A position snapshot; ``n`` varies the numbers and the creation time."""
    return PositionSnapshot(
        account_id=account,
        instrument_token=instrument,
        exchange=Exchange.NSE,
        quantity=10 * version,
        avg_price=Decimal("100.5000"),
        realised_pnl=Decimal(n),
        unrealised_pnl=Decimal("-1.5000"),
        fees=Decimal("0.4000"),
        version=version,
        created_at=_at(n),
        trace_id=f"tr-{n}",
    )


def make_audit(n: int) -> AuditEvent:
    """An audit event."""
    return AuditEvent(
        event_id=f"aud-{n:08d}",
        actor="ingress",
        action="order.accepted",
        outcome="ok",
        account_id=f"ACC{n % 7}",
        subject=f"int-{n:08d}",
        details={"ip": "10.0.0.1", "n": str(n)},
        created_at=_at(n),
        trace_id=f"tr-{n}",
    )


def make_command(n: int) -> ControlCommand:
    """A control command (a kill switch flip)."""
    return ControlCommand(
        command_id=f"cmd-{n:08d}",
        account_id="*",
        command=CommandKind.SET_TRADING_STATE,
        actor="ops",
        trading_state=TradingState.HALTED,
        limits={"max_qty": "10"},
        created_at=_at(n),
        trace_id=f"tr-{n}",
    )
