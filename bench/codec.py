"""Avro codec benchmark: encode and decode µs per record, ours beside fastavro re-parsing.

    .venv/bin/python bench/codec.py            # 20,000 of each record type
    .venv/bin/python bench/codec.py -n 5000

The baseline, measured in the same run on the same records, is fastavro called the way the
codec used to call it: with schemas parsed with ``_write_hint=False``, so that
``schemaless_writer`` / ``schemaless_reader`` parse the schema again on every record.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.codec import AvroCodec, current_schema, unframe
from schemas.records import Record
from schemas.registry import FileRegistry
from tests.factories import (
    make_fill,
    make_intent,
    make_order_event,
    make_position_snapshot,
    make_tick,
)

__all__ = ["main"]

CASES: list[tuple[str, Callable[[], Record]]] = [
    ("orders.intents.v1", make_intent),
    ("orders.events.v1", make_order_event),
    ("exec.fills.v1", make_fill),
    ("positions.v1", make_position_snapshot),
    ("md.ticks.v1", make_tick),
]


def _per_call_us(fn: Callable[[], Any], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def _row(codec: AvroCodec, topic: str, make: Callable[[], Record], n: int) -> str:
    record = make()
    record_type = type(record)
    encode = codec.encoder(topic, record_type)
    data = encode(record)
    ours_enc = _per_call_us(lambda: encode(record), n)
    ours_dec = _per_call_us(lambda: codec.decode(data, record_type), n)
    slow = parse_schema(current_schema(record_type), _write_hint=False)
    datum = record.to_avro()
    _, body = unframe(data)
    base_enc = _per_call_us(lambda: schemaless_writer(io.BytesIO(), slow, datum), n)
    base_dec = _per_call_us(lambda: schemaless_reader(io.BytesIO(body), slow, None), n)
    return (
        f"  {record_type.__name__:<18} {ours_enc:>9.1f} {ours_dec:>9.1f}"
        f" {base_enc:>13.1f} {base_dec:>13.1f}"
    )


def main() -> None:
    """Print one row per record type."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="records per measurement")
    n = parser.parse_args().n
    codec = AvroCodec(FileRegistry())
    print(f"Avro encode / decode, µs per record ({n:,} each), one core")
    heads = ("ours enc", "ours dec", "re-parse enc", "re-parse dec")
    print(f"  {'record':<18} {heads[0]:>9} {heads[1]:>9} {heads[2]:>13} {heads[3]:>13}")
    for topic, make in CASES:
        print(_row(codec, topic, make, n))


if __name__ == "__main__":
    main()
