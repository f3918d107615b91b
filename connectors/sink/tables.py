"""Which topic lands in which table, and how a decoded Avro dict becomes a typed row.

Every append-only table has the record's Avro fields as typed columns (numeric for money,
timestamptz, text for enums) plus the Kafka partition and offset it came from.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from schemas.records import (
    AuditEvent,
    ControlCommand,
    Fill,
    OrderEvent,
    OrderIntent,
    PositionSnapshot,
    Record,
)
from streams.topics import AUDIT, CONTROL, FILLS, INTENTS, ORDER_EVENTS, POSITIONS

__all__ = [
    "APPEND_TABLES",
    "ORDER_COLUMNS",
    "POSITION_COLUMNS",
    "SUNK_TOPICS",
    "StreamTable",
    "changelog_regex",
    "subscription_pattern",
]


def _fields(record_type: type[Record]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(record_type))


@dataclass(frozen=True, slots=True)
class StreamTable:
    """An append-only table fed by one topic."""

    topic: str
    table: str
    record_type: type[Record]
    json_columns: frozenset[str] = frozenset()
    columnar: bool = False
    """Decoded into a polars frame and COPied as CSV (``BatchDecoder.decode_frame``): only
    tables whose rows need nothing per record in Python (no JSON, no collapse, no chain)."""

    @property
    def value_columns(self) -> tuple[str, ...]:
        return _fields(self.record_type)

    @property
    def columns(self) -> tuple[str, ...]:
        """The COPY column list: the record's fields, then where it came from."""
        return (*self.value_columns, "kafka_partition", "kafka_offset")

    def row_builder(self) -> Callable[[dict[str, Any], int, int], tuple[Any, ...]]:
        """A fast function from (decoded dict, partition, offset) to a row tuple."""
        names = self.value_columns
        getter = itemgetter(*names)
        json_at = [i for i, n in enumerate(names) if n in self.json_columns]
        if not json_at:
            return lambda value, partition, offset: (*getter(value), partition, offset)

        def build(value: dict[str, Any], partition: int, offset: int) -> tuple[Any, ...]:
            row = list(getter(value))
            for i in json_at:
                row[i] = orjson.dumps(row[i], option=orjson.OPT_SORT_KEYS).decode()
            return (*row, partition, offset)

        return build


APPEND_TABLES: dict[str, StreamTable] = {
    spec.topic: spec
    for spec in (
        StreamTable(INTENTS, "order_intents", OrderIntent, columnar=True),
        StreamTable(ORDER_EVENTS, "order_events", OrderEvent, columnar=True),
        StreamTable(FILLS, "fills", Fill, columnar=True),
        StreamTable(POSITIONS, "position_snapshots", PositionSnapshot),
        StreamTable(CONTROL, "control_commands", ControlCommand, frozenset({"limits"})),
        StreamTable(AUDIT, "audit_events", AuditEvent, frozenset({"details"})),
    )
}
"""Sunk topic → its append-only table (``audit_events`` is written by the hash chain)."""

SUNK_TOPICS: tuple[str, ...] = tuple(APPEND_TABLES)

# Current-state tables: the columns taken from the event, then the derived ones.
ORDER_COLUMNS: tuple[str, ...] = (
    "intent_id",
    "account_id",
    "client_order_id",
    "instrument_token",
    "exchange",
    "side",
    "status",
    "seq",
    "quantity",
    "filled_quantity",
    "leaves_quantity",
    "price",
    "avg_fill_price",
    "reason_code",
    "broker_order_id",
    "last_event_id",
    "updated_at",
)
POSITION_COLUMNS: tuple[str, ...] = (
    "account_id",
    "instrument_token",
    "exchange",
    "quantity",
    "avg_price",
    "realised_pnl",
    "unrealised_pnl",
    "fees",
    "last_price",
    "last_fill_id",
    "version",
    "updated_at",
)


def changelog_regex(app_id: str) -> str:
    """The default pattern of Faust table changelogs: ``<app_id>-<table>-changelog``."""
    return rf"{re.escape(app_id)}-.+-changelog"


def subscription_pattern(topics: Iterable[str], changelog_patterns: Iterable[str]) -> str:
    """One anchored regex for the sunk topics and the changelog topics."""
    parts = [re.escape(t) for t in topics] + [f"(?:{p})" for p in changelog_patterns]
    return "^(?:" + "|".join(parts) + ")$"
