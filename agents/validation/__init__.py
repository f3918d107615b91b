"""Order-intent validation: pure rules (``rules``) the ``validate_intents`` agent calls."""

from agents.validation.rules import (
    CHECK_ORDER,
    PRODUCTS_BY_EXCHANGE,
    ROBO_EXCHANGES,
    enrich,
    is_on_tick,
    validate,
)

__all__ = [
    # tables
    "CHECK_ORDER",
    "PRODUCTS_BY_EXCHANGE",
    "ROBO_EXCHANGES",
    # decisions
    "enrich",
    "is_on_tick",
    "validate",
]
