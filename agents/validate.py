"""``validate_intents``: orders.intents.v1 → orders.validated.v1 | orders.events.v1 (REJECTED).

Keyed by account id; relies on per-account ordering only for the duplicate check, which
sees intents of one account in partition order.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from agents.events import event_for
from agents.runtime import Outbox, batched_agent
from schemas.records import OrderIntent, OrderStatus, OrderType
from streams.app import Pipeline
from streams.metrics import ORDER_EVENTS, REJECTIONS, STAGE_LATENCY
from streams.topics import INTENTS, VALIDATED
from streams.topics import ORDER_EVENTS as EVENTS_TOPIC

__all__ = ["AGENT", "basic_checks", "register"]

AGENT = "validate_intents"


def basic_checks(intent: OrderIntent) -> tuple[str, str] | None:
    """The shape checks every intent must pass: (reason code, message) or None."""
    if intent.quantity <= 0:
        return "QTY_NOT_POSITIVE", f"quantity {intent.quantity} is not positive"
    needs_price = intent.order_type in (OrderType.LIMIT, OrderType.STOPLOSS_LIMIT)
    if needs_price and intent.price is None:
        return "LIMIT_NEEDS_PRICE", f"{intent.order_type} needs a price"
    if intent.order_type is OrderType.MARKET and intent.price is not None:
        return "MARKET_HAS_PRICE", "a MARKET order has no price"
    if intent.price is not None and intent.price <= Decimal(0):
        return "PRICE_NOT_POSITIVE", f"price {intent.price} is not positive"
    return None


def register(pipeline: Pipeline) -> None:
    """Declare the agent on the pipeline's app."""
    stage_latency = STAGE_LATENCY.labels(stage="validate")

    async def handle(intents: Sequence[OrderIntent], outbox: Outbox) -> None:
        for intent in intents:
            key = intent.account_id.encode()
            refusal = basic_checks(intent)
            if refusal is None:
                outbox.add(VALIDATED, key, intent.replace(stage="validated"))
                event = event_for(intent, OrderStatus.VALIDATED, seq=1, stage=AGENT)
            else:
                code, message = refusal
                event = event_for(
                    intent,
                    OrderStatus.REJECTED,
                    seq=1,
                    stage=AGENT,
                    reason_code=code,
                    reason=message,
                )
                REJECTIONS.labels(agent=AGENT, status="REJECTED", reason=code).inc()
            outbox.add(EVENTS_TOPIC, key, event)
            ORDER_EVENTS.labels(status=event.status.value).inc()
            stage_latency.observe(max((event.created_at - intent.created_at).total_seconds(), 0.0))

    batched_agent(pipeline, AGENT, INTENTS, handle)
