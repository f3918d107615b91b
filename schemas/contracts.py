"""Which record type each topic carries: the value contracts of docs/topics.md."""

from __future__ import annotations

from schemas.records import (
    AuditEvent,
    ControlCommand,
    Fill,
    OrderEvent,
    OrderIntent,
    PositionSnapshot,
    Record,
    Tick,
)

__all__ = ["TOPIC_VALUE_TYPES", "dlq_topic", "value_type_for"]

TOPIC_VALUE_TYPES: dict[str, type[Record]] = {
    "md.ticks.v1": Tick,
    "orders.intents.v1": OrderIntent,
    "orders.validated.v1": OrderIntent,
    "orders.approved.v1": OrderIntent,
    "orders.events.v1": OrderEvent,
    "exec.fills.v1": Fill,
    "paper.orders.v1": OrderIntent,
    "positions.v1": PositionSnapshot,
    "audit.events.v1": AuditEvent,
    "control.commands.v1": ControlCommand,
}


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}.dlq"


def value_type_for(topic: str) -> type[Record]:
    """The record type on ``topic``; a sandbox or DLQ name maps to its source topic's type."""
    base = topic.removesuffix(".dlq")
    for name, record_type in TOPIC_VALUE_TYPES.items():
        if base == name or base.startswith(name + "."):
            return record_type
    raise KeyError(topic)
