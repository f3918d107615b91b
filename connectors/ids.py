"""Deterministic identifiers, so a replay produces the same ids and downstream dedupes.

Here (not in ``agents``) because connectors such as the paper exchange need them too, and
imports flow ``connectors`` <- ``agents``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

__all__ = ["event_id", "fill_id", "ns_to_datetime", "paper_order_id"]

_EVENT_NS = uuid.UUID("5b0e8a4e-7f0c-4a53-9a59-2f1d3c7e9b10")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def event_id(intent_id: str, status: str, seq: int) -> str:
    """UUIDv5 of ``(intent_id, status, seq)``: one id per lifecycle step of an order."""
    return str(uuid.uuid5(_EVENT_NS, f"{intent_id}|{status}|{seq}"))


def fill_id(broker_order_id: str, n: int) -> str:
    """The ``n``-th fill (1-based) of a venue order."""
    return f"{broker_order_id}-{n}"


def paper_order_id(intent_id: str) -> str:
    """The paper exchange's order id for an intent (one venue order per intent)."""
    return f"P-{intent_id}"


def ns_to_datetime(ts_ns: int) -> datetime:
    """Aware UTC datetime (microsecond resolution) of a nanosecond timestamp, without floats."""
    return _EPOCH + timedelta(microseconds=ts_ns // 1000)
