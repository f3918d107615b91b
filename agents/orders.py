"""``apply_order_events``: orders.events.v1 → the ``orders`` table (the one order state
machine after routing) and risk closes; illegal venue transitions → audit.events.v1.

Key: account id. Ordering relied on: an order's ROUTED event precedes every venue event of
that order in the partition (the router publishes the venue order only after ROUTED is
acknowledged), so a venue event for an order the table does not know is refused.

This agent owns the order state from ROUTED on; the stages before ROUTED guard their own
transitions with the same machine (``OrderState.advance``) inside ``validate_intents``. Venue
events (``stage == "venue"``: the paper exchange, later SmartAPI order updates) each go
through ``agents.lifecycle``:

* ACCEPTED / CANCELLED / EXPIRED / REJECTED advance the state; CANCELLED, EXPIRED and
  REJECTED release the order in risk (``on_order_closed``);
* PARTIALLY_FILLED / FILLED are checked but change nothing: fills (``apply_fills``) drive
  quantities, so the order state cannot count an execution twice;
* an earlier step arriving late (``is_stale``) or the same status again is dropped quietly;
* anything else is refused, left out of the state and audited (``illegal_transition``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from agents import check_risk
from agents.context import WorkerContext
from agents.events import audit_event
from agents.lifecycle import OPEN_STATUSES, OrderState, can_transition, is_stale
from agents.reasons import ReasonCode
from agents.runtime import Batch, Incoming, batched_agent
from schemas.records import OrderEvent, OrderStatus
from streams.errors import IllegalTransition
from streams.metrics import ILLEGAL_TRANSITIONS
from streams.topics import AUDIT, ORDER_EVENTS

__all__ = ["AGENT", "OrderBook", "audit_refusal", "load_book", "register"]

AGENT = "apply_order_events"
log = structlog.get_logger(__name__)
_S = OrderStatus
_FILL_STATUSES = frozenset({_S.PARTIALLY_FILLED, _S.FILLED})
_CLOSING = frozenset({_S.CANCELLED, _S.EXPIRED, _S.REJECTED})


@dataclass(slots=True)
class OrderBook:
    """One account's routed orders: open ones, the last few closed, and fills that arrived
    before their order's ROUTED event (applied when it comes)."""

    orders: dict[str, OrderState] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)
    early_fills: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def put(self, state: OrderState, closed_memory: int) -> None:
        """Store ``state``; closed orders beyond the memory are forgotten, oldest first."""
        known = state.intent_id in self.orders
        self.orders[state.intent_id] = state
        if state.status not in OPEN_STATUSES and (not known or state.intent_id not in self.closed):
            self.closed.append(state.intent_id)
            while len(self.closed) > closed_memory:
                self.orders.pop(self.closed.pop(0), None)

    @property
    def open_count(self) -> int:
        """Orders still working."""
        return len(self.orders) - len(self.closed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "orders": [s.to_dict() for s in self.orders.values()],
            "closed": self.closed,
            "early_fills": self.early_fills,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderBook:
        """Inverse of ``to_dict``."""
        orders = (OrderState.from_dict(d) for d in data.get("orders", ()))
        return cls(
            orders={s.intent_id: s for s in orders},
            closed=list(data.get("closed", ())),
            early_fills={k: list(v) for k, v in data.get("early_fills", {}).items()},
        )


def load_book(ctx: WorkerContext, batch: Batch, account: str, partition: int) -> OrderBook:
    """The account's order book for this batch, written back on commit."""
    table = ctx.tables["orders"]
    book: OrderBook = batch.load(table, account, OrderBook.from_dict, OrderBook)
    batch.dirty(table, account, partition, OrderBook.to_dict)
    return book


def audit_refusal(
    batch: Batch,
    event_status: str,
    state: OrderState | None,
    intent_id: str,
    account: str,
    reason: ReasonCode,
    detail: str,
    trace_id: str,
    id_part: str,
) -> None:
    """Audit a transition the state machine refused."""
    ILLEGAL_TRANSITIONS.labels(reason=reason.value).inc()
    log.warning("illegal_transition", intent_id=intent_id, reason=reason.value, detail=detail)
    record = audit_event(
        action="illegal_transition",
        outcome="refused",
        actor="apply_order_events",
        subject=intent_id,
        account_id=account,
        details={
            "from": state.status.value if state is not None else "UNKNOWN_ORDER",
            "to": event_status,
            "reason": reason.value,
            "detail": detail[:200],
        },
        created_at=datetime.now(UTC),
        trace_id=trace_id,
        id_parts=(id_part,),
    )
    batch.outbox.add(AUDIT, account.encode(), record)


def _from_routed(event: OrderEvent) -> OrderState:
    return OrderState(
        intent_id=event.intent_id,
        account_id=event.account_id,
        client_order_id=event.client_order_id,
        instrument_token=event.instrument_token,
        exchange=event.exchange,
        side=event.side,
        quantity=event.quantity,
        price=event.price,
        status=_S.ROUTED,
        seq=event.seq,
        broker_order_id=event.broker_order_id,
        venue=event.venue,
    )


def register(ctx: WorkerContext) -> None:
    """Declare the agent on the worker's app."""
    from agents.fills import apply_early_fills  # fills imports this module

    closed_memory = ctx.pipeline.settings.agents.closed_memory

    async def handle(items: Sequence[Incoming], batch: Batch) -> None:
        for item in items:
            event: OrderEvent = item.value
            account = event.account_id
            if event.status is _S.ROUTED:
                book = load_book(ctx, batch, account, item.partition)
                if event.intent_id not in book.orders:
                    state = apply_early_fills(batch, book, _from_routed(event))
                    book.put(state, closed_memory)
            elif event.stage == "venue":
                book = load_book(ctx, batch, account, item.partition)
                _guard(ctx, batch, book, event, item.partition, closed_memory)
            else:
                continue
            ctx.count_open(account, book.open_count)

    batched_agent(ctx.pipeline, AGENT, ORDER_EVENTS, handle, ctx.producer)


def _guard(
    ctx: WorkerContext,
    batch: Batch,
    book: OrderBook,
    event: OrderEvent,
    partition: int,
    closed_memory: int,
) -> None:
    state = book.orders.get(event.intent_id)
    new = event.status

    def refuse(why: str) -> None:
        audit_refusal(
            batch,
            new.value,
            state,
            event.intent_id,
            event.account_id,
            ReasonCode.ILLEGAL_TRANSITION,
            why,
            event.trace_id,
            event.event_id,
        )

    if state is None:
        refuse("venue event for an order that was never routed")
        return
    current = state.status
    if new in _FILL_STATUSES:
        # fills drive quantities; the event only has to be possible
        if new is not current and not can_transition(current, new) and current is not _S.FILLED:
            refuse(f"{current} -> {new}")
        return
    if new is current:
        if new in _CLOSING:
            # a replay: the order state may be written and the risk release not (idempotent)
            check_risk.close_order(ctx, batch, event.account_id, partition, event.intent_id)
        return
    if is_stale(current, new):
        return
    try:
        advanced = state.advance(new)
    except IllegalTransition as err:
        refuse(str(err))
        return
    if event.broker_order_id and not advanced.broker_order_id:
        advanced = replace(advanced, broker_order_id=event.broker_order_id)
    book.put(advanced, closed_memory)
    if new in _CLOSING:
        check_risk.close_order(ctx, batch, event.account_id, partition, event.intent_id)
