"""Per-account pre-trade risk state and limits, as plain data.

``AccountRisk`` is what the risk agent keeps per account in a Faust table (and sinks to
Postgres): positions (signed quantity and cost per instrument, last mark), open orders with
their remaining quantity and notional, today's net realised P&L, the recent approval times for
the rate throttle, the trading state and per-account limit overrides. Aggregates (open
notional, marked position exposure, open buy/sell quantity per instrument) are kept up to date
by the ``on_*`` appliers in ``agents.risk.events`` so that checks are O(1).

``to_dict`` / ``from_dict`` give JSON-able dicts (Decimals as strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.records import Side, TradingState
from streams.settings import RiskSettings

__all__ = [
    "DAY_OFFSET_NS",
    "FILL_MEMORY",
    "GLOBAL_ACCOUNT",
    "AccountRisk",
    "InstrumentRisk",
    "OpenOrder",
    "RiskLimits",
    "instrument_key",
    "limits_for",
    "trading_day",
]

GLOBAL_ACCOUNT = "*"
# The trading day is the Indian (IST, UTC+05:30) calendar day of the timestamp.
DAY_OFFSET_NS = (5 * 3600 + 30 * 60) * 1_000_000_000
_DAY_NS = 86_400 * 1_000_000_000
FILL_MEMORY = 1024
_ZERO = Decimal(0)


def trading_day(ts_ns: int) -> int:
    """IST day number (days since 1970-01-01 IST) of a UTC nanosecond timestamp."""
    return (ts_ns + DAY_OFFSET_NS) // _DAY_NS


def instrument_key(exchange: str, token: str) -> str:
    """``"NSE:2885"``: the per-account instrument key (tokens repeat across segments)."""
    return f"{exchange}:{token}"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Effective limits for one account (defaults from ``RiskSettings``)."""

    max_order_notional: Decimal = Decimal("5000000")
    max_position_qty: int = 100_000
    max_gross_exposure: Decimal = Decimal("20000000")
    max_open_orders: int = 200
    max_daily_loss: Decimal = Decimal("500000")
    max_orders_per_second: int = 50
    fat_finger_pct: Decimal = Decimal("10")

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> RiskLimits:
        """The defaults configured in settings."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def with_overrides(self, overrides: Mapping[str, str]) -> RiskLimits:
        """These limits with ``SET_LIMITS`` overrides applied; ``ValueError`` on an unknown
        name or a value that is not a non-negative number of the right kind."""
        changes: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(self)}
        for name, raw in overrides.items():
            if name not in types:
                raise ValueError(f"unknown limit {name!r}")
            try:
                value: int | Decimal = int(raw) if types[name] == "int" else Decimal(raw)
            except (ValueError, InvalidOperation) as exc:
                raise ValueError(f"bad value for {name}: {raw!r}") from exc
            if isinstance(value, Decimal) and not value.is_finite():
                raise ValueError(f"bad value for {name}: {raw!r}")
            if value < 0:
                raise ValueError(f"negative value for {name}: {raw!r}")
            changes[name] = value
        return replace(self, **changes)

    def to_dict(self) -> dict[str, str]:
        """JSON-able form (the same shape ``SET_LIMITS`` takes)."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}


@dataclass(slots=True)
class OpenOrder:
    """An approved order that may still trade: remaining quantity valued at its reference."""

    intent_id: str
    key: str
    side: Side
    quantity: int
    price: Decimal

    @property
    def notional(self) -> Decimal:
        """Remaining quantity x reference price."""
        return self.price * self.quantity


@dataclass(slots=True)
class InstrumentRisk:
    """Position and open-order totals of one instrument."""

    quantity: int = 0
    cost: Decimal = _ZERO
    mark: Decimal | None = None
    open_buy: int = 0
    open_sell: int = 0

    @property
    def exposure(self) -> Decimal:
        """Absolute position marked to the last known price (fill or tick)."""
        if self.quantity == 0 or self.mark is None:
            return _ZERO
        return abs(self.quantity) * self.mark


@dataclass(slots=True)
class AccountRisk:
    """All risk state of one account (or of ``GLOBAL_ACCOUNT`` for the global switch)."""

    account_id: str
    trading_state: TradingState = TradingState.ACTIVE
    instruments: dict[str, InstrumentRisk] = field(default_factory=dict)
    open_orders: dict[str, OpenOrder] = field(default_factory=dict)
    open_notional: Decimal = _ZERO
    position_exposure: Decimal = _ZERO
    realised_today: Decimal = _ZERO  # net of fees
    pnl_day: int = 0
    order_times_ns: list[int] = field(default_factory=list)
    limit_overrides: dict[str, str] = field(default_factory=dict)
    # ordered set (dict keeps insertion order) of the last FILL_MEMORY fill ids
    recent_fill_ids: dict[str, None] = field(default_factory=dict)
    _limits_cache: tuple[RiskLimits, RiskLimits] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def gross_exposure(self) -> Decimal:
        """Marked positions plus open-order notional."""
        return self.position_exposure + self.open_notional

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "account_id": self.account_id,
            "trading_state": self.trading_state.value,
            "instruments": {
                k: {
                    "quantity": i.quantity,
                    "cost": str(i.cost),
                    "mark": None if i.mark is None else str(i.mark),
                    "open_buy": i.open_buy,
                    "open_sell": i.open_sell,
                }
                for k, i in self.instruments.items()
            },
            "open_orders": {
                k: {
                    "key": o.key,
                    "side": o.side.value,
                    "quantity": o.quantity,
                    "price": str(o.price),
                }
                for k, o in self.open_orders.items()
            },
            "open_notional": str(self.open_notional),
            "position_exposure": str(self.position_exposure),
            "realised_today": str(self.realised_today),
            "pnl_day": self.pnl_day,
            "order_times_ns": list(self.order_times_ns),
            "limit_overrides": dict(self.limit_overrides),
            "recent_fill_ids": list(self.recent_fill_ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountRisk:
        """Inverse of ``to_dict``."""
        return cls(
            account_id=data["account_id"],
            trading_state=TradingState(data.get("trading_state", "ACTIVE")),
            instruments={
                k: InstrumentRisk(
                    quantity=int(v["quantity"]),
                    cost=Decimal(v["cost"]),
                    mark=None if v.get("mark") is None else Decimal(v["mark"]),
                    open_buy=int(v["open_buy"]),
                    open_sell=int(v["open_sell"]),
                )
                for k, v in data.get("instruments", {}).items()
            },
            open_orders={
                k: OpenOrder(
                    intent_id=k,
                    key=v["key"],
                    side=Side(v["side"]),
                    quantity=int(v["quantity"]),
                    price=Decimal(v["price"]),
                )
                for k, v in data.get("open_orders", {}).items()
            },
            open_notional=Decimal(data.get("open_notional", "0")),
            position_exposure=Decimal(data.get("position_exposure", "0")),
            realised_today=Decimal(data.get("realised_today", "0")),
            pnl_day=int(data.get("pnl_day", 0)),
            order_times_ns=[int(t) for t in data.get("order_times_ns", ())],
            limit_overrides=dict(data.get("limit_overrides", {})),
            recent_fill_ids=dict.fromkeys(data.get("recent_fill_ids", ())),
        )


def limits_for(state: AccountRisk, defaults: RiskLimits) -> RiskLimits:
    """The account's effective limits: ``defaults`` with its overrides (cached)."""
    if not state.limit_overrides:
        return defaults
    cache = state._limits_cache
    if cache is not None and cache[0] is defaults:
        return cache[1]
    limits = defaults.with_overrides(state.limit_overrides)
    state._limits_cache = (defaults, limits)
    return limits
