"""From one poll's records to a ``Batch``: decode, build typed rows, collapse current state.

Pure apart from the decoder's caches: no I/O, so the sink can build the next batch while
Postgres commits the previous one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors.sink.decode import BatchDecoder
from connectors.sink.tables import APPEND_TABLES
from connectors.sink.writer import Batch
from streams.errors import DecodeError, TradepipeError
from streams.topics import AUDIT, ORDER_EVENTS, POSITIONS

__all__ = ["Poison", "build_batch"]

Poison = list[tuple[Any, str]]
"""(the Kafka record, the reason) of every record bound for a DLQ."""

RowBuilder = Callable[[dict[str, Any], int, int], tuple[Any, ...]]
_BUILDERS: dict[str, RowBuilder] = {t: s.row_builder() for t, s in APPEND_TABLES.items()}


def _collapse_order(batch: Batch, e: dict[str, Any]) -> None:
    have = batch.orders.get(e["intent_id"])
    if have is None or have[7] < e["seq"]:
        batch.orders[e["intent_id"]] = (
            e["intent_id"],
            e["account_id"],
            e["client_order_id"],
            e["instrument_token"],
            e["exchange"],
            e["side"],
            e["status"],
            e["seq"],
            e["quantity"],
            e["filled_quantity"],
            e["leaves_quantity"],
            e["price"],
            e["avg_fill_price"],
            e["reason_code"],
            e["broker_order_id"],
            e["event_id"],
            e["created_at"],
        )


def _collapse_position(batch: Batch, p: dict[str, Any]) -> None:
    key = (p["account_id"], p["instrument_token"])
    have = batch.positions.get(key)
    if have is None or (have[10], have[11]) < (p["version"], p["created_at"]):
        batch.positions[key] = (
            p["account_id"],
            p["instrument_token"],
            p["exchange"],
            p["quantity"],
            p["avg_price"],
            p["realised_pnl"],
            p["unrealised_pnl"],
            p["fees"],
            p["last_price"],
            p["last_fill_id"],
            p["version"],
            p["created_at"],
        )


def _append_stream(
    batch: Batch, poison: Poison, decoder: BatchDecoder, topic: str, partition: int, msgs: list[Any]
) -> None:
    spec = APPEND_TABLES[topic]
    build = _BUILDERS[topic]
    rows = batch.rows.setdefault(spec.table, [])
    decoded = decoder.decode_many([m.value for m in msgs], spec.record_type)
    for msg, value in zip(msgs, decoded, strict=True):
        if isinstance(value, DecodeError):
            poison.append((msg, f"{value.code}: {value}"[:500]))
            continue
        try:
            row = build(value, partition, msg.offset)
            if topic == ORDER_EVENTS:
                _collapse_order(batch, value)
            elif topic == POSITIONS:
                _collapse_position(batch, value)
        except Exception as exc:  # noqa: BLE001 — the one guard: poison goes to the DLQ
            code = exc.code if isinstance(exc, TradepipeError) else type(exc).__name__
            poison.append((msg, f"{code}: {exc}"[:500]))
            continue
        if topic == AUDIT:
            batch.audit.append((value, partition, msg.offset))
        else:
            rows.append(row)


def build_batch(
    data: Mapping[Any, list[Any]],
    decoder: BatchDecoder,
    floors: Mapping[tuple[str, int], int | None],
) -> tuple[Batch, Poison]:
    """Turn ``{TopicPartition: [records]}`` into a batch and the poison found in it.

    Records below a partition's floor (the offset this sink last wrote or sought to) were
    fetched before a seek and are skipped.
    """
    batch = Batch()
    poison: Poison = []
    for tp, fetched in data.items():
        topic, partition = tp.topic, tp.partition
        floor = floors.get((topic, partition))
        msgs = fetched if floor is None else [m for m in fetched if m.offset >= floor]
        if not msgs:
            continue
        if topic in APPEND_TABLES:
            _append_stream(batch, poison, decoder, topic, partition, msgs)
        else:  # a table changelog: raw bytes, the latest value per key wins
            for msg in msgs:
                batch.state[(topic, partition, msg.key or b"")] = (msg.value, msg.offset)
        batch.offsets[(topic, partition)] = msgs[-1].offset + 1
        batch.records += len(msgs)
    return batch, poison
