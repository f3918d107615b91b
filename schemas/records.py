"""Typed records mirroring the ``.avsc`` contracts in ``schemas/avro``.

Plain slotted dataclasses: cheap to build on the hot path, exact (``Decimal``) for money,
aware UTC ``datetime`` for ``created_at``. ``to_avro`` / ``from_avro`` convert to and from
the dicts fastavro reads and writes; the codec calls them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, NewType, Self, TypeVar

__all__ = [
    # identifiers
    "AccountId",
    "InstrumentToken",
    "IntentId",
    # enumerations
    "CommandKind",
    "Duration",
    "Exchange",
    "OrderStatus",
    "OrderType",
    "Product",
    "Side",
    "TradingState",
    "Variety",
    # records
    "AuditEvent",
    "ControlCommand",
    "Fill",
    "OrderEvent",
    "OrderIntent",
    "PositionSnapshot",
    "Record",
    "Tick",
    "RECORD_TYPES",
    "utcnow",
]

AccountId = NewType("AccountId", str)
IntentId = NewType("IntentId", str)
InstrumentToken = NewType("InstrumentToken", str)


def utcnow() -> datetime:
    """Aware UTC now, truncated to microseconds (the Avro resolution)."""
    return datetime.now(UTC)


class Exchange(StrEnum):
    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    MCX = "MCX"
    CDS = "CDS"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOPLOSS_LIMIT = "STOPLOSS_LIMIT"
    STOPLOSS_MARKET = "STOPLOSS_MARKET"


class Variety(StrEnum):
    NORMAL = "NORMAL"
    STOPLOSS = "STOPLOSS"
    AMO = "AMO"
    ROBO = "ROBO"


class Product(StrEnum):
    DELIVERY = "DELIVERY"
    INTRADAY = "INTRADAY"
    MARGIN = "MARGIN"
    CARRYFORWARD = "CARRYFORWARD"
    BO = "BO"
    CO = "CO"


class Duration(StrEnum):
    DAY = "DAY"
    IOC = "IOC"


class OrderStatus(StrEnum):
    RECEIVED = "RECEIVED"
    VALIDATED = "VALIDATED"
    REJECTED = "REJECTED"
    APPROVED = "APPROVED"
    DENIED = "DENIED"
    ROUTED = "ROUTED"
    ROUTE_FAILED = "ROUTE_FAILED"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"


class CommandKind(StrEnum):
    SET_TRADING_STATE = "SET_TRADING_STATE"
    SET_LIMITS = "SET_LIMITS"
    CANCEL_ORDER = "CANCEL_ORDER"
    UNKNOWN = "UNKNOWN"


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


R = TypeVar("R", bound="Record")


@dataclass(slots=True, kw_only=True)
class Record:
    """Base of every Avro record: the schema name and the enum fields to coerce on read."""

    avro_name: ClassVar[str]
    _enums: ClassVar[dict[str, type[StrEnum]]] = {}
    _field_names: ClassVar[tuple[str, ...]] = ()

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes (enums are ``str`` already)."""
        names = type(self)._field_names or _names(type(self))
        return {n: getattr(self, n) for n in names}

    @classmethod
    def from_avro(cls, data: dict[str, Any]) -> Self:
        """Build from a fastavro-decoded dict, coercing enum strings."""
        for name, enum_type in cls._enums.items():
            value = data.get(name)
            if value is not None:
                data[name] = enum_type(value)
        return cls(**data)

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _names(cls: type[Record]) -> tuple[str, ...]:
    names = tuple(f.name for f in dataclasses.fields(cls))
    cls._field_names = names
    return names


@dataclass(slots=True, kw_only=True)
class Tick(Record):
    avro_name: ClassVar[str] = "io.tradepipe.v1.Tick"
    _enums: ClassVar[dict[str, type[StrEnum]]] = {"exchange": Exchange}

    instrument_token: str
    exchange: Exchange
    ts_event_ns: int
    last_price: Decimal
    last_qty: int = 0
    volume: int = 0
    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_qty: int | None = None
    ask_qty: int | None = None
    source: str = "sim"
    created_at: datetime = field(default_factory=utcnow)
    trace_id: str = ""


@dataclass(slots=True, kw_only=True)
class OrderIntent(Record):
    avro_name: ClassVar[str] = "io.tradepipe.v1.OrderIntent"
    _enums: ClassVar[dict[str, type[StrEnum]]] = {
        "exchange": Exchange,
        "side": Side,
        "order_type": OrderType,
        "variety": Variety,
        "product": Product,
        "duration": Duration,
    }

    intent_id: str
    account_id: str
    client_order_id: str
    instrument_token: str
    exchange: Exchange
    side: Side
    quantity: int
    order_type: OrderType
    symbol: str | None = None
    variety: Variety = Variety.NORMAL
    product: Product = Product.DELIVERY
    duration: Duration = Duration.DAY
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    tag: str | None = None
    source: str = "api"
    stage: str = "intent"
    lot_size: int | None = None
    tick_size: Decimal | None = None
    reference_price: Decimal | None = None
    venue: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    trace_id: str = ""


@dataclass(slots=True, kw_only=True)
class OrderEvent(Record):
    avro_name: ClassVar[str] = "io.tradepipe.v1.OrderEvent"
    _enums: ClassVar[dict[str, type[StrEnum]]] = {
        "exchange": Exchange,
        "side": Side,
        "status": OrderStatus,
    }

    event_id: str
    intent_id: str
    account_id: str
    client_order_id: str
    instrument_token: str
    exchange: Exchange
    side: Side
    status: OrderStatus
    seq: int
    quantity: int
    filled_quantity: int = 0
    leaves_quantity: int = 0
    price: Decimal | None = None
    avg_fill_price: Decimal | None = None
    reason_code: str | None = None
    reason: str | None = None
    venue: str | None = None
    broker_order_id: str | None = None
    stage: str = ""
    created_at: datetime = field(default_factory=utcnow)
    trace_id: str = ""


@dataclass(slots=True, kw_only=True)
class Fill(Record):
    avro_name: ClassVar[str] = "io.tradepipe.v1.Fill"
    _enums: ClassVar[dict[str, type[StrEnum]]] = {"exchange": Exchange, "side": Side}

    fill_id: str
    intent_id: str
    broker_order_id: str
    account_id: str
    instrument_token: str
    exchange: Exchange
    side: Side
    quantity: int
    price: Decimal
    fee: Decimal = Decimal(0)
    venue: str = "paper"
    ts_event_ns: int = 0
    created_at: datetime = field(default_factory=utcnow)
    trace_id: str = ""


@dataclass(slots=True, kw_only=True)
class PositionSnapshot(Record):
    avro_name: ClassVar[str] = "io.tradepipe.v1.PositionSnapshot"
    _enums: ClassVar[dict[str, type[StrEnum]]] = {"exchange": Exchange}

    account_id: str
    instrument_token: str
    exchange: Exchange
    quantity: int
    avg_price: Decimal | None = None
    realised_pnl: Decimal = Decimal(0)
    unrealised_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    last_price: Decimal | None = None
    last_fill_id: str | None = None
    version: int = 0
    created_at: datetime = field(default_factory=utcnow)
    trace_id: str = ""


@dataclass(slots=True, kw_only=True)
class AuditEvent(Record):
    avro_name: ClassVar[str] = "io.tradepipe.v1.AuditEvent"

    event_id: str
    actor: str
    action: str
    outcome: str
    account_id: str | None = None
    subject: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    trace_id: str = ""


@dataclass(slots=True, kw_only=True)
class ControlCommand(Record):
    avro_name: ClassVar[str] = "io.tradepipe.v1.ControlCommand"
    _enums: ClassVar[dict[str, type[StrEnum]]] = {
        "command": CommandKind,
        "trading_state": TradingState,
    }

    command_id: str
    account_id: str
    command: CommandKind
    actor: str
    trading_state: TradingState | None = None
    limits: dict[str, str] = field(default_factory=dict)
    intent_id: str | None = None
    reason: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    trace_id: str = ""


RECORD_TYPES: dict[str, type[Record]] = {
    cls.__name__: cls
    for cls in (Tick, OrderIntent, OrderEvent, Fill, PositionSnapshot, AuditEvent, ControlCommand)
}
