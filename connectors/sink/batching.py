"""From one poll's records to a ``Batch``: decode, build typed rows, collapse current state.

Pure apart from the decoder's caches: no I/O, so the sink can build the next batch while
Postgres commits the previous one. ``build_batch_yielding`` does the same work in chunks and
hands the event loop back between them, so the previous batch's statements keep flowing to
Postgres while this one decodes (one thread: a chunk is the longest they wait).

The columnar tables (``StreamTable.columnar``) are decoded ``FRAME_CHUNK`` records at a time
into polars frames (``Batch.frames``); a chunk the frame path refuses (poison in it, an older
writer schema) is decoded record by record into ``Batch.rows`` as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import polars as pl

from connectors.sink.decode import BatchDecoder
from connectors.sink.tables import APPEND_TABLES
from connectors.sink.writer import Batch, encode_frames
from streams.errors import DecodeError, TradepipeError
from streams.topics import AUDIT, POSITIONS

__all__ = ["CHUNK", "FRAME_CHUNK", "Poison", "build_batch", "build_batch_yielding"]

Poison = list[tuple[Any, str]]
"""(the Kafka record, the reason) of every record bound for a DLQ."""

CHUNK = 100
"""Records decoded between two yields to the event loop (about 1 ms of CPU here)."""
FRAME_CHUNK = 1000
"""Records of a columnar table decoded into one frame (about 1 ms of CPU here)."""

RowBuilder = Callable[[dict[str, Any], int, int], tuple[Any, ...]]
_BUILDERS: dict[str, RowBuilder] = {t: s.row_builder() for t, s in APPEND_TABLES.items()}


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
            if topic == POSITIONS:
                _collapse_position(batch, value)
        except Exception as exc:  # noqa: BLE001 — the one guard: poison goes to the DLQ
            code = exc.code if isinstance(exc, TradepipeError) else type(exc).__name__
            poison.append((msg, f"{code}: {exc}"[:500]))
            continue
        if topic == AUDIT:
            batch.audit.append((value, partition, msg.offset))
        else:
            rows.append(row)


def _append_frame(
    batch: Batch, decoder: BatchDecoder, topic: str, partition: int, msgs: list[Any]
) -> bool:
    """Decode ``msgs`` into one frame of ``batch``; ``False`` if the frame path refused them."""
    spec = APPEND_TABLES[topic]
    frame = decoder.decode_frame([m.value for m in msgs], spec.record_type)
    if frame is None:
        return False
    frame = frame.select(spec.value_columns).with_columns(
        pl.lit(partition, pl.Int32).alias("kafka_partition"),
        pl.Series("kafka_offset", [m.offset for m in msgs], pl.Int64),
    )
    batch.frames.setdefault(spec.table, []).append(frame)
    return True


def _steps(
    batch: Batch,
    poison: Poison,
    data: Mapping[Any, list[Any]],
    decoder: BatchDecoder,
    floors: Mapping[tuple[str, int], int | None],
    chunk: int,
) -> Iterator[None]:
    """Fill ``batch``, pausing (one ``yield``) after every ``chunk`` stream records."""
    for tp, fetched in data.items():
        topic, partition = tp.topic, tp.partition
        floor = floors.get((topic, partition))
        msgs = fetched if floor is None else [m for m in fetched if m.offset >= floor]
        if not msgs:
            continue
        if topic in APPEND_TABLES and APPEND_TABLES[topic].columnar:
            for start in range(0, len(msgs), FRAME_CHUNK):
                part = msgs[start : start + FRAME_CHUNK]
                if not _append_frame(batch, decoder, topic, partition, part):
                    for sub in range(0, len(part), chunk):
                        _append_stream(
                            batch, poison, decoder, topic, partition, part[sub : sub + chunk]
                        )
                        yield
                yield
        elif topic in APPEND_TABLES:
            for start in range(0, len(msgs), chunk):
                part = msgs[start : start + chunk]
                _append_stream(batch, poison, decoder, topic, partition, part)
                yield
        else:  # a table changelog: raw bytes, the latest value per key wins
            for msg in msgs:
                batch.state[(topic, partition, msg.key or b"")] = (msg.value, msg.offset)
        batch.offsets[(topic, partition)] = msgs[-1].offset + 1
        batch.records += len(msgs)
    if batch.frames:
        yield
        encode_frames(batch)  # the CSV COPY sends, while the previous batch is in Postgres


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
    for _ in _steps(batch, poison, data, decoder, floors, CHUNK):
        pass
    return batch, poison


async def build_batch_yielding(
    data: Mapping[Any, list[Any]],
    decoder: BatchDecoder,
    floors: Mapping[tuple[str, int], int | None],
    chunk: int = CHUNK,
) -> tuple[Batch, Poison]:
    """``build_batch``, giving the event loop a turn after every ``chunk`` records."""
    batch = Batch()
    poison: Poison = []
    for _ in _steps(batch, poison, data, decoder, floors, chunk):
        await asyncio.sleep(0)
    return batch, poison
