"""Control markers that travel on ``paper.orders.v1`` beside the routed orders.

Cancels and day-end expiry reach the paper exchange on its own input topic, so they are
ordered with the orders they act on (same partition, same offsets) and replayed exactly
after a restart. A marker is an ``OrderIntent`` whose ``stage`` says what it is:

* ``stage="routed"`` (anything not below): a new order to book.
* ``stage="cancel"``: cancel the order of ``intent_id`` (keyed by its instrument token, like
  the order, so it lands behind it in the same partition).
* ``stage="expire"``: expire every working order of the partition it is written to; one is
  written to every partition by ``tradepipe paper expire``.
"""

from __future__ import annotations

from datetime import datetime

from schemas.records import Exchange, OrderIntent, OrderType, Side

__all__ = ["CANCEL_STAGE", "EXPIRE_KEY", "EXPIRE_STAGE", "cancel_marker", "expire_marker"]

CANCEL_STAGE = "cancel"
EXPIRE_STAGE = "expire"
EXPIRE_KEY = b"*"


def cancel_marker(order: OrderIntent, *, created_at: datetime, trace_id: str = "") -> OrderIntent:
    """The cancel request for a routed order (publish keyed by ``order.instrument_token``)."""
    return order.replace(
        stage=CANCEL_STAGE, created_at=created_at, trace_id=trace_id or order.trace_id
    )


def expire_marker(day: str, *, created_at: datetime) -> OrderIntent:
    """The day-end marker for one partition; ``day`` is the trading day (``2026-11-21``)."""
    return OrderIntent(
        intent_id=f"expire-{day}",
        account_id="*",
        client_order_id=f"expire-{day}",
        instrument_token="*",  # noqa: S106 - a topic key, not a secret
        exchange=Exchange.NSE,
        side=Side.BUY,
        quantity=0,
        order_type=OrderType.MARKET,
        source="paper",
        stage=EXPIRE_STAGE,
        created_at=created_at,
        trace_id=f"expire-{day}",
    )
