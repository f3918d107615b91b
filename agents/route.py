"""``route_orders``: orders.approved.v1 → the account's venue (paper: paper.orders.v1, keyed
by instrument token) + ROUTED / ROUTE_FAILED on orders.events.v1 (keyed by account).
A stage of the ``validate_intents`` agent.

Never routes one intent twice, even when the worker dies between placing and committing and
the intent is replayed:

1. the ``routed`` table (per account: intent id → broker order id, the last
   ``agents.seen_memory``) is written only after the venue order is acknowledged, and a
   routed intent is not placed again;
2. the broker order id is deterministic (``Venue.broker_order_id``: ``P-<intent_id>`` on
   paper), so a re-placed order carries the same id, and the ROUTED event the same event id;
3. the venue side dedupes: the paper exchange ignores an order id it has seen; a venue that
   does not (``dedupes_orders=False``, e.g. SmartAPI) is asked ``find_order`` by its tag
   before anything is placed again.

The venue order is published in the outbox's late phase, after the ROUTED event is
acknowledged, so ``orders.events.v1`` always carries ROUTED before any venue event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from agents import check_risk
from agents.context import WorkerContext
from agents.lifecycle import OrderState
from agents.reasons import ReasonCode, Stage, route_failure
from agents.runtime import Batch
from schemas.records import OrderEvent, OrderIntent, OrderStatus
from streams.errors import VenueError
from streams.metrics import REJECTIONS, order_event_counter
from streams.topics import ORDER_EVENTS as EVENTS_TOPIC

__all__ = ["AGENT", "RoutedIds", "route"]

AGENT = "route_orders"
log = structlog.get_logger(__name__)


class RoutedIds:
    """Per account: intent id → broker order id of routed intents (bounded, ordered)."""

    __slots__ = ("ids",)

    def __init__(self, ids: dict[str, str] | None = None) -> None:
        self.ids: dict[str, str] = ids or {}

    def add(self, intent_id: str, broker_order_id: str, limit: int) -> None:
        """Remember a routed intent."""
        self.ids[intent_id] = broker_order_id
        while len(self.ids) > limit:
            del self.ids[next(iter(self.ids))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"ids": self.ids}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoutedIds:
        """Inverse of ``to_dict``."""
        return cls(dict(data.get("ids", {})))


async def route(
    ctx: WorkerContext,
    batch: Batch,
    partition: int,
    intent: OrderIntent,
    state: OrderState,
    now: datetime,
) -> None:
    """Place an approved intent at its venue (once) and emit ROUTED or ROUTE_FAILED."""
    account = intent.account_id
    table = ctx.tables["routed"]
    routed: RoutedIds = batch.load(table, account, RoutedIds.from_dict, RoutedIds)
    venue = ctx.venue_for(account)
    if venue is None:
        _fail(ctx, batch, partition, intent, state, now, route_failure(None), "no venue")
        return
    broker_order_id = routed.ids.get(intent.intent_id)
    if broker_order_id is None:
        wanted = venue.broker_order_id(intent)
        try:
            found = None if venue.dedupes_orders else await venue.find_order(wanted)
            broker_order_id = found or await venue.place_order(intent, wanted)
        except VenueError as err:
            _fail(ctx, batch, partition, intent, state, now, route_failure(err), str(err))
            return
        routed.add(intent.intent_id, broker_order_id, ctx.pipeline.settings.agents.seen_memory)
        batch.dirty(table, account, partition, RoutedIds.to_dict)
    state = state.advance(OrderStatus.ROUTED, broker_order_id=broker_order_id, venue=venue.name)
    batch.outbox.add(EVENTS_TOPIC, account.encode(), _event(state, now, None, None, intent))
    order_event_counter("ROUTED").inc()


def _fail(
    ctx: WorkerContext,
    batch: Batch,
    partition: int,
    intent: OrderIntent,
    state: OrderState,
    now: datetime,
    code: ReasonCode,
    detail: str,
) -> None:
    check_risk.close_order(ctx, batch, intent.account_id, partition, intent.intent_id)
    state = state.advance(OrderStatus.ROUTE_FAILED)
    batch.outbox.add(
        EVENTS_TOPIC, intent.account_id.encode(), _event(state, now, code, detail, intent)
    )
    REJECTIONS.labels(agent=AGENT, status="ROUTE_FAILED", reason=code.value).inc()
    order_event_counter("ROUTE_FAILED").inc()
    log.warning("route_failed", intent_id=intent.intent_id, reason=code.value, detail=detail)


def _event(
    state: OrderState,
    now: datetime,
    reason: ReasonCode | None,
    detail: str | None,
    intent: OrderIntent,
) -> OrderEvent:
    return state.to_event(
        created_at=now,
        reason_code=reason,
        reason=detail,
        stage=Stage.ROUTING.value,
        trace_id=intent.trace_id,
    )
