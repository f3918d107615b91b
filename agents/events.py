"""Builders for the order events agents emit: deterministic ids, so a replay dedupes."""

from __future__ import annotations

import uuid
from datetime import datetime

from schemas.records import OrderEvent, OrderIntent, OrderStatus, utcnow

__all__ = ["event_for", "order_event_id"]

_NAMESPACE = uuid.UUID("6f0f1c1e-6b1d-4c55-9a53-2f0c5d7a9e10")


def order_event_id(intent_id: str, status: OrderStatus, seq: int) -> str:
    """Same intent, status and sequence → same id, whichever worker emits it."""
    return str(uuid.uuid5(_NAMESPACE, f"{intent_id}/{status.value}/{seq}"))


def event_for(
    intent: OrderIntent,
    status: OrderStatus,
    *,
    seq: int,
    stage: str,
    reason_code: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
    **fields: object,
) -> OrderEvent:
    """An ``OrderEvent`` for ``intent`` entering ``status``."""
    event = OrderEvent(
        event_id=order_event_id(intent.intent_id, status, seq),
        intent_id=intent.intent_id,
        account_id=intent.account_id,
        client_order_id=intent.client_order_id,
        instrument_token=intent.instrument_token,
        exchange=intent.exchange,
        side=intent.side,
        status=status,
        seq=seq,
        quantity=intent.quantity,
        leaves_quantity=intent.quantity if status not in _FINAL_EMPTY else 0,
        price=intent.price,
        reason_code=reason_code,
        reason=reason,
        venue=intent.venue,
        stage=stage,
        created_at=now or utcnow(),
        trace_id=intent.trace_id,
    )
    for name, value in fields.items():
        setattr(event, name, value)
    return event


_FINAL_EMPTY = frozenset({OrderStatus.REJECTED, OrderStatus.DENIED, OrderStatus.ROUTE_FAILED})
