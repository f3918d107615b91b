"""THE order state machine: every lifecycle transition in tradepipe is checked here.

States are ``OrderStatus``; ``docs/order-pipeline.md`` draws the main path and gives the
semantics, and NautilusTrader's order FSM is the reference for the races:

* Terminal: REJECTED, DENIED, ROUTE_FAILED, FILLED. Nothing leaves them.
* ROUTED may jump straight to PARTIALLY_FILLED / FILLED: a venue's fill can overtake its
  acknowledgement.
* A fill that races a cancel (or the day-end expiry) is *accepted and recorded*: the fill
  counts (positions must match the venue), the order stays CANCELLED / EXPIRED unless the fill
  completes it, in which case it becomes FILLED. So CANCELLED/EXPIRED -> FILLED is legal and
  CANCELLED/EXPIRED -> PARTIALLY_FILLED is not: a cancelled order never works again.
* UNKNOWN (a decoder fallback) is never a legal target or source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from agents.reasons import ReasonCode
from connectors.fees import q4
from connectors.ids import event_id
from schemas.records import Exchange, Fill, OrderEvent, OrderIntent, OrderStatus, Side
from streams.errors import IllegalTransition

__all__ = [
    "OPEN_STATUSES",
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "OrderState",
    "apply_fill",
    "can_transition",
    "event_id",
    "is_stale",
    "refusal_reason",
    "transition",
]

S = OrderStatus
TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    S.RECEIVED: frozenset({S.VALIDATED, S.REJECTED}),
    S.VALIDATED: frozenset({S.APPROVED, S.DENIED}),
    # a cancel may arrive before the router acts: the router then must not route
    S.APPROVED: frozenset({S.ROUTED, S.ROUTE_FAILED, S.CANCELLED}),
    S.ROUTED: frozenset(
        {S.ACCEPTED, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}
    ),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.CANCELLED: frozenset({S.FILLED}),
    S.EXPIRED: frozenset({S.FILLED}),
    S.REJECTED: frozenset(),
    S.DENIED: frozenset(),
    S.ROUTE_FAILED: frozenset(),
    S.FILLED: frozenset(),
    S.UNKNOWN: frozenset(),
}
TERMINAL_STATUSES = frozenset({S.REJECTED, S.DENIED, S.ROUTE_FAILED, S.FILLED})
# states in which the order may still trade at the venue (risk counts them as open)
OPEN_STATUSES = frozenset({S.APPROVED, S.ROUTED, S.ACCEPTED, S.PARTIALLY_FILLED})
_LATE_FILL_STATUSES = frozenset({S.CANCELLED, S.EXPIRED})


# How far along the lifecycle a status is; used to spot events that arrive after a later one.
_RANK: Mapping[OrderStatus, int] = {
    S.RECEIVED: 0,
    S.VALIDATED: 1,
    S.APPROVED: 2,
    S.ROUTED: 3,
    S.ACCEPTED: 4,
    S.PARTIALLY_FILLED: 5,
    S.REJECTED: 6,
    S.DENIED: 6,
    S.ROUTE_FAILED: 6,
    S.CANCELLED: 6,
    S.EXPIRED: 6,
    S.FILLED: 7,
    S.UNKNOWN: -1,
}


def is_stale(current: OrderStatus, new: OrderStatus) -> bool:
    """Whether ``new`` is an earlier step arriving late (e.g. ACCEPTED after a fill came in
    on another topic): drop it quietly instead of auditing an illegal transition."""
    return (
        new not in TRANSITIONS[current]
        and new is not S.UNKNOWN
        and _RANK[new] < _RANK[current]
        and new in {S.VALIDATED, S.APPROVED, S.ROUTED, S.ACCEPTED}
    )


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    """Whether the machine allows ``current -> new``."""
    return new in TRANSITIONS[current]


def refusal_reason(error: IllegalTransition) -> ReasonCode:
    """The reason code to audit for a refused transition (OVERFILL or ILLEGAL_TRANSITION)."""
    if error.code == ReasonCode.OVERFILL.value.lower():
        return ReasonCode.OVERFILL
    return ReasonCode.ILLEGAL_TRANSITION


def transition(current: OrderStatus, new: OrderStatus) -> OrderStatus:
    """``new`` when allowed; raises ``IllegalTransition`` otherwise."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"{current} -> {new}")
    return new


@dataclass(frozen=True, slots=True)
class OrderState:
    """One order as the pipeline sees it; every change goes through this module."""

    intent_id: str
    account_id: str
    client_order_id: str
    instrument_token: str
    exchange: Exchange
    side: Side
    quantity: int
    price: Decimal | None = None
    status: OrderStatus = OrderStatus.RECEIVED
    seq: int = 0
    filled_quantity: int = 0
    avg_fill_price: Decimal | None = None
    # exact sum of price * quantity over fills; avg_fill_price is derived from it
    filled_notional: Decimal = Decimal(0)
    broker_order_id: str | None = None
    venue: str | None = None
    fill_ids: tuple[str, ...] = field(default=())

    @classmethod
    def from_intent(cls, intent: OrderIntent) -> OrderState:
        """The RECEIVED state of a fresh intent (seq 0)."""
        return cls(
            intent_id=intent.intent_id,
            account_id=intent.account_id,
            client_order_id=intent.client_order_id,
            instrument_token=intent.instrument_token,
            exchange=intent.exchange,
            side=intent.side,
            quantity=intent.quantity,
            price=intent.price,
            venue=intent.venue,
        )

    @property
    def leaves_quantity(self) -> int:
        """Quantity still working (0 once the order is no longer open)."""
        if self.status in OPEN_STATUSES:
            return self.quantity - self.filled_quantity
        return 0

    @property
    def is_open(self) -> bool:
        """Whether the order can still trade."""
        return self.status in OPEN_STATUSES

    def advance(self, new: OrderStatus, **changes: Any) -> OrderState:
        """The state after ``new`` (seq + 1); raises ``IllegalTransition`` when refused."""
        return replace(self, status=transition(self.status, new), seq=self.seq + 1, **changes)

    def to_event(
        self,
        *,
        created_at: datetime,
        reason_code: ReasonCode | None = None,
        reason: str | None = None,
        stage: str = "",
        trace_id: str = "",
    ) -> OrderEvent:
        """The ``OrderEvent`` describing this state (deterministic ``event_id``)."""
        return OrderEvent(
            event_id=event_id(self.intent_id, self.status, self.seq),
            intent_id=self.intent_id,
            account_id=self.account_id,
            client_order_id=self.client_order_id,
            instrument_token=self.instrument_token,
            exchange=self.exchange,
            side=self.side,
            status=self.status,
            seq=self.seq,
            quantity=self.quantity,
            filled_quantity=self.filled_quantity,
            leaves_quantity=self.leaves_quantity,
            price=self.price,
            avg_fill_price=self.avg_fill_price,
            reason_code=reason_code.value if reason_code is not None else None,
            reason=reason if reason is not None or reason_code is None else reason_code.description,
            venue=self.venue,
            broker_order_id=self.broker_order_id,
            stage=stage,
            created_at=created_at,
            trace_id=trace_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (Decimals as strings)."""
        return {
            "intent_id": self.intent_id,
            "account_id": self.account_id,
            "client_order_id": self.client_order_id,
            "instrument_token": self.instrument_token,
            "exchange": self.exchange.value,
            "side": self.side.value,
            "quantity": self.quantity,
            "price": None if self.price is None else str(self.price),
            "status": self.status.value,
            "seq": self.seq,
            "filled_quantity": self.filled_quantity,
            "avg_fill_price": None if self.avg_fill_price is None else str(self.avg_fill_price),
            "filled_notional": str(self.filled_notional),
            "broker_order_id": self.broker_order_id,
            "venue": self.venue,
            "fill_ids": list(self.fill_ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderState:
        """Inverse of ``to_dict``."""
        d = dict(data)
        d["exchange"] = Exchange(d["exchange"])
        d["side"] = Side(d["side"])
        d["status"] = OrderStatus(d["status"])
        d["price"] = None if d.get("price") is None else Decimal(d["price"])
        avg = d.get("avg_fill_price")
        d["avg_fill_price"] = None if avg is None else Decimal(avg)
        d["filled_notional"] = Decimal(d.get("filled_notional", "0"))
        d["fill_ids"] = tuple(d.get("fill_ids", ()))
        return cls(**d)


def apply_fill(state: OrderState, fill: Fill) -> OrderState:
    """The state after ``fill``; the same fill id twice returns ``state`` unchanged.

    Working orders move to PARTIALLY_FILLED or FILLED. A late fill on a CANCELLED or EXPIRED
    order is recorded (filled quantity and average price change, seq + 1) and the status stays,
    unless the fill completes the order (then FILLED). Raises ``IllegalTransition`` for a fill
    on any other status, and for an overfill (``code`` ``"overfill"``).
    """
    if fill.fill_id in state.fill_ids:
        return state
    if fill.quantity <= 0:
        raise IllegalTransition(f"fill {fill.fill_id} has quantity {fill.quantity}")
    filled = state.filled_quantity + fill.quantity
    if filled > state.quantity:
        err = IllegalTransition(
            f"fill {fill.fill_id} overfills {state.intent_id}: {filled} > {state.quantity}"
        )
        err.code = ReasonCode.OVERFILL.value.lower()
        raise err
    if filled == state.quantity:
        new = S.FILLED
    elif state.status in _LATE_FILL_STATUSES:
        new = state.status
    else:
        new = S.PARTIALLY_FILLED
    if new is not state.status or state.status not in _LATE_FILL_STATUSES:
        new = transition(state.status, new)
    notional = state.filled_notional + fill.price * fill.quantity
    return replace(
        state,
        status=new,
        seq=state.seq + 1,
        filled_quantity=filled,
        avg_fill_price=q4(notional / filled),
        filled_notional=notional,
        broker_order_id=state.broker_order_id or fill.broker_order_id,
        fill_ids=(*state.fill_ids, fill.fill_id),
    )
