"""Decode a poll's worth of Confluent-framed Avro values at once, fast, and still per record.

fastavro decodes records inside an Avro container block several times faster than one
``schemaless_reader`` call per record (measured here: ~155k against ~52k records/s for an
``OrderEvent``). The bodies of a batch that share a schema id are wrapped, in memory, in a
container with that writer schema and decoded as one block. Alignment is verified: each
decoded record's first (string) field must be the prefix of its own body, and the block must
be consumed exactly, so a body with missing or trailing bytes cannot shift its neighbours
silently. Whenever the block path fails or cannot be checked, every value of the group is
decoded on its own by ``AvroCodec.decode_dict``, which names the poison.

``decode_frame`` is the fast path of the hot tables: polars reads the same in-memory block
into columns (in Rust, about ten times faster than fastavro's dicts), and the sink COPies
the columns as CSV without building a Python object per value. It takes only a clean run
(every value framed with one schema id whose writer schema is the current one, so no schema
resolution is needed) and applies the same alignment checks; polars does not check that a
block is consumed exactly, so the block ends with a copy of its first body, which must decode
to the first row again. Anything else returns ``None`` and the caller decodes record by record.
"""

from __future__ import annotations

import io
import os
from typing import Any

import polars as pl
from fastavro import parse_schema, reader, writer
from polars.exceptions import PanicException, PolarsError

from schemas.codec import AVRO_READ_ERRORS, AvroCodec, current_schema
from schemas.records import Record
from streams.errors import DecodeError

__all__ = ["BatchDecoder"]

# A block read can also fail on attribute access of a half-read container.
_BLOCK_ERRORS = (*AVRO_READ_ERRORS, AttributeError)
# polars reports a malformed block as an error, an I/O error (short read) or a Rust panic.
_FRAME_ERRORS = (PolarsError, OSError, ValueError, PanicException)


def _long(n: int) -> bytes:
    """Avro's zig-zag varint encoding of a long."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z & ~0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_PREFIXES: dict[int, bytes] = {}
"""Cache of ``_long(n)``: string length prefixes."""


class _Container:
    """The header and sync marker of an in-memory container for one writer schema."""

    def __init__(self, writer_schema: dict[str, Any], reader_schema: dict[str, Any]) -> None:
        parsed = parse_schema(writer_schema, _write_hint=False)
        self.sync = os.urandom(16)
        buf = io.BytesIO()
        writer(buf, parsed, [], codec="null", sync_marker=self.sync)
        self.header = buf.getvalue()
        self.reader_schema = None if writer_schema == reader_schema else reader_schema
        first = writer_schema["fields"][0]
        self.first_field: str | None = first["name"] if first["type"] == "string" else None


class BatchDecoder:
    """Decodes many values of one record type; one result (dict or ``DecodeError``) per value."""

    def __init__(self, codec: AvroCodec, *, min_block: int = 8) -> None:
        self.codec = codec
        self.min_block = min_block
        self._containers: dict[tuple[int, str], _Container | None] = {}

    def _container(self, schema_id: int, record_type: type[Record]) -> _Container | None:
        key = (schema_id, record_type.__name__)
        if key not in self._containers:
            try:
                writer_schema = self.codec.registry.schema_for(schema_id)
            except DecodeError:
                writer_schema = None
            reader_schema = current_schema(record_type)
            usable = (
                writer_schema is not None
                and writer_schema.get("name") == reader_schema.get("name")
                and writer_schema.get("namespace") == reader_schema.get("namespace")
            )
            self._containers[key] = _Container(writer_schema, reader_schema) if usable else None  # type: ignore[arg-type]
        return self._containers[key]

    def _block(self, container: _Container, bodies: list[bytes]) -> list[dict[str, Any]] | None:
        payload = b"".join(bodies)
        data = (
            container.header + _long(len(bodies)) + _long(len(payload)) + payload + container.sync
        )
        stream = io.BytesIO(data)
        try:
            records: list[dict[str, Any]] = [
                r
                for r in reader(stream, reader_schema=container.reader_schema)
                if isinstance(r, dict)
            ]
        except _BLOCK_ERRORS:
            return None
        if len(records) != len(bodies) or stream.tell() != len(data):
            return None
        name = container.first_field
        assert name is not None
        for record, body in zip(records, bodies, strict=True):
            value = record.get(name)
            if not isinstance(value, str):
                return None
            raw = value.encode()
            if not body.startswith(_long(len(raw)) + raw):
                return None
        return records

    def decode_frame(
        self, values: list[bytes | None], record_type: type[Record]
    ) -> pl.DataFrame | None:
        """``values`` as one frame, a column per field in schema order, or ``None``.

        ``None`` means "not this way": too few values, a value that is not framed with the
        first one's schema id, a writer schema other than the current one, or a block that
        does not decode or fails an alignment check. Then ``decode_many`` sorts it out.
        """
        if len(values) < self.min_block:
            return None
        first = values[0]
        if first is None or len(first) <= 5 or first[0] != 0:
            return None
        framing = first[:5]
        bodies: list[bytes] = []
        for value in values:
            if value is None or value[:5] != framing or len(value) <= 5:
                return None
            bodies.append(value[5:])
        container = self._container(int.from_bytes(framing[1:5], "big"), record_type)
        if container is None or container.reader_schema is not None:
            return None
        name = container.first_field
        if name is None:
            return None
        block = [*bodies, bodies[0]]  # the sentinel: the block must end where the bodies end
        payload = b"".join(block)
        data = container.header + _long(len(block)) + _long(len(payload)) + payload + container.sync
        try:
            frame = pl.read_avro(io.BytesIO(data))
        except _FRAME_ERRORS:
            return None
        if frame.height != len(block) or frame.row(0) != frame.row(-1):
            return None
        prefixes = _PREFIXES
        for value, body in zip(frame.get_column(name).to_list(), block, strict=True):
            if not isinstance(value, str):
                return None
            raw = value.encode()
            size = len(raw)
            prefix = prefixes.get(size)
            if prefix is None:
                prefix = prefixes[size] = _long(size)
            if not body.startswith(prefix + raw):
                return None
        return frame.head(len(bodies))

    def decode_many(
        self, values: list[bytes | None], record_type: type[Record]
    ) -> list[dict[str, Any] | DecodeError]:
        """Decode ``values`` (Confluent-framed); poison comes back as its ``DecodeError``."""
        results: list[dict[str, Any] | DecodeError | None] = [None] * len(values)
        groups: dict[int, list[int]] = {}
        for i, value in enumerate(values):
            if value is not None and len(value) > 5 and value[0] == 0:
                groups.setdefault(int.from_bytes(value[1:5], "big"), []).append(i)
            else:
                results[i] = self._one(value, record_type)
        for schema_id, indexes in groups.items():
            container = self._container(schema_id, record_type)
            decoded = None
            if container is not None and container.first_field and len(indexes) >= self.min_block:
                decoded = self._block(container, [values[i][5:] for i in indexes])  # type: ignore[index]
            if decoded is None:
                for i in indexes:
                    results[i] = self._one(values[i], record_type)
            else:
                for i, record in zip(indexes, decoded, strict=True):
                    results[i] = record
        return results  # type: ignore[return-value]  # every slot was filled above

    def _one(self, value: bytes | None, record_type: type[Record]) -> dict[str, Any] | DecodeError:
        if value is None:
            return DecodeError("record has no value (a tombstone on a stream topic)")
        try:
            return self.codec.decode_dict(value, record_type)
        except DecodeError as exc:
            return exc
