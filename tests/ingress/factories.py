"""Deterministic builders for ingress tests: intents, keys, signed requests."""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["FERNET_KEY", "intent_body", "next_id"]

# A fixed, throwaway Fernet key for tests (never used outside them).
FERNET_KEY = "Q2hhbmdlTWVDaGFuZ2VNZUNoYW5nZU1lQ2hhbmdlTWU="

_counter = itertools.count(1)


def next_id(prefix: str) -> str:
    """A readable id unique within the test session."""
    return f"{prefix}-{next(_counter):06d}"


def intent_body(unique: str, **overrides: Any) -> dict[str, Any]:
    """A valid LIMIT intent as JSON-ready data."""
    body: dict[str, Any] = {
        "intent_id": next_id(f"it-{unique}"),
        "account_id": f"acct-{unique}",
        "client_order_id": next_id(f"co-{unique}"),
        "instrument_token": "2885",
        "symbol": "RELIANCE-EQ",
        "exchange": "NSE",
        "side": "BUY",
        "quantity": 10,
        "order_type": "LIMIT",
        "price": "2450.05",
    }
    body.update(overrides)
    return body
