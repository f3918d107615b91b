"""Pure position accounting per (account, instrument): quantity, cost, realised and
unrealised P&L, fees. No I/O; every function returns a new ``Position``.

Accounting keeps the *signed cost basis* of the open quantity exactly (sum of signed
quantity x price), not a rounded average, so ``realised + unrealised`` equals the cash flow
plus the marked position to the last digit:

* increase (or open): cost += signed qty x price; realised unchanged;
* reduction: the closed share of the cost is released; realised += closed x price x sign
  - released cost; the average price of what is left is unchanged;
* flip: the whole position closes as above and the rest opens at the fill price.

``avg_price = cost / quantity`` and ``unrealised = last x quantity - cost``. Realised P&L is
gross of fees; ``fees`` accumulates separately (net = realised - fees). Applying a fill whose
id was seen recently (the last ``FILL_MEMORY`` fills of the position) changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.fees import FeeModel, q4
from schemas.records import Exchange, Fill, PositionSnapshot, Side

__all__ = [
    "COST_QUANTUM",
    "FILL_MEMORY",
    "Position",
    "apply_fill",
    "apply_trade",
    "mark",
    "signed_quantity",
]

# Fill ids remembered per position for idempotence: replays after a crash re-deliver at most
# the fills since the last committed offset, far fewer than this.
FILL_MEMORY = 512
COST_QUANTUM = Decimal("1e-8")
_ZERO = Decimal(0)


def signed_quantity(side: Side, quantity: int) -> int:
    """``+quantity`` for BUY, ``-quantity`` for SELL."""
    return quantity if side is Side.BUY else -quantity


def apply_trade(
    qty: int, cost: Decimal, trade_qty: int, price: Decimal
) -> tuple[int, Decimal, Decimal]:
    """Core arithmetic: ``(qty, cost)`` after a signed trade -> ``(qty, cost, realised)``."""
    if qty == 0 or (qty > 0) == (trade_qty > 0):
        return qty + trade_qty, cost + trade_qty * price, _ZERO
    closed = min(abs(qty), abs(trade_qty))
    # The released share of the cost is rounded to COST_QUANTUM once, and the same number
    # leaves the cost and enters realised P&L, so every later sum stays exact.
    released = cost if closed == abs(qty) else (cost * closed / abs(qty)).quantize(COST_QUANTUM)
    realised = (closed * price if qty > 0 else -closed * price) - released
    new_qty = qty + trade_qty
    new_cost = cost - released
    if new_qty != 0 and (new_qty > 0) != (qty > 0):
        new_cost = new_qty * price  # flipped: the remainder opens at the fill price
    elif new_qty == 0:
        new_cost = _ZERO
    return new_qty, new_cost, realised


@dataclass(frozen=True, slots=True)
class Position:
    """One account's position in one instrument."""

    account_id: str
    instrument_token: str
    exchange: Exchange
    quantity: int = 0
    cost: Decimal = _ZERO
    realised_pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    last_price: Decimal | None = None
    last_fill_id: str | None = None
    version: int = 0
    fill_ids: tuple[str, ...] = ()

    @property
    def avg_price(self) -> Decimal | None:
        """Average entry price of the open quantity (None when flat)."""
        return None if self.quantity == 0 else self.cost / self.quantity

    @property
    def unrealised_pnl(self) -> Decimal:
        """Open quantity marked to ``last_price`` (0 without a price or when flat)."""
        if self.quantity == 0 or self.last_price is None:
            return _ZERO
        return self.last_price * self.quantity - self.cost

    def snapshot(self, *, created_at: datetime, trace_id: str = "") -> PositionSnapshot:
        """The ``positions.v1`` record (amounts rounded to the contract's 4 places)."""
        avg = self.avg_price
        return PositionSnapshot(
            account_id=self.account_id,
            instrument_token=self.instrument_token,
            exchange=self.exchange,
            quantity=self.quantity,
            avg_price=None if avg is None else q4(avg),
            realised_pnl=q4(self.realised_pnl),
            unrealised_pnl=q4(self.unrealised_pnl),
            fees=q4(self.fees),
            last_price=self.last_price,
            last_fill_id=self.last_fill_id,
            version=self.version,
            created_at=created_at,
            trace_id=trace_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (Decimals as strings)."""
        return {
            "account_id": self.account_id,
            "instrument_token": self.instrument_token,
            "exchange": self.exchange.value,
            "quantity": self.quantity,
            "cost": str(self.cost),
            "realised_pnl": str(self.realised_pnl),
            "fees": str(self.fees),
            "last_price": None if self.last_price is None else str(self.last_price),
            "last_fill_id": self.last_fill_id,
            "version": self.version,
            "fill_ids": list(self.fill_ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Position:
        """Inverse of ``to_dict``."""
        last = data.get("last_price")
        return cls(
            account_id=data["account_id"],
            instrument_token=data["instrument_token"],
            exchange=Exchange(data["exchange"]),
            quantity=int(data["quantity"]),
            cost=Decimal(data["cost"]),
            realised_pnl=Decimal(data["realised_pnl"]),
            fees=Decimal(data["fees"]),
            last_price=None if last is None else Decimal(last),
            last_fill_id=data.get("last_fill_id"),
            version=int(data.get("version", 0)),
            fill_ids=tuple(data.get("fill_ids", ())),
        )


def apply_fill(
    position: Position, fill: Fill, *, fee_model: FeeModel | None = None, first_fill: bool = False
) -> Position:
    """The position after ``fill``; a fill id seen before returns ``position`` unchanged.

    The fill's own ``fee`` is used; when it is 0 and ``fee_model`` is given (a broker fill
    without fees), the model prices it (``first_fill`` adds the per-order fixed part).
    """
    if fill.fill_id in position.fill_ids:
        return position
    trade = signed_quantity(fill.side, fill.quantity)
    qty, cost, realised = apply_trade(position.quantity, position.cost, trade, fill.price)
    fee = fill.fee
    if not fee and fee_model is not None:
        fee = fee_model.fee(fill.price * fill.quantity, first_fill=first_fill)
    ids = position.fill_ids
    ids = (
        (*ids[-(FILL_MEMORY - 1) :], fill.fill_id)
        if len(ids) >= FILL_MEMORY
        else (
            *ids,
            fill.fill_id,
        )
    )
    return replace(
        position,
        quantity=qty,
        cost=cost,
        realised_pnl=position.realised_pnl + realised,
        fees=position.fees + fee,
        last_price=fill.price if position.last_price is None else position.last_price,
        last_fill_id=fill.fill_id,
        version=position.version + 1,
        fill_ids=ids,
    )


def mark(position: Position, last_price: Decimal) -> Position:
    """The position marked to ``last_price`` (version + 1 only when the price changed)."""
    if position.last_price == last_price:
        return position
    return replace(position, last_price=last_price, version=position.version + 1)
