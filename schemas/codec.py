"""Avro with Confluent wire framing: magic byte 0, 4-byte big-endian schema id, Avro body.

The codec writes with the current ``.avsc`` of a record type and reads any registered
writer version, resolving it to the current reader schema.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any, TypeVar

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.records import RECORD_TYPES, Record
from schemas.registry import AVRO_DIR, SchemaRegistry, load_avsc, subject_for
from streams.errors import DecodeError

__all__ = ["AVRO_READ_ERRORS", "MAGIC_BYTE", "AvroCodec", "current_schema", "frame", "unframe"]

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")
R = TypeVar("R", bound=Record)

# What fastavro raises on bytes that are not a valid body for the writer schema.
AVRO_READ_ERRORS = (
    EOFError,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    UnicodeDecodeError,
    struct.error,
)

_CURRENT: dict[str, dict[str, Any]] = {}


def current_schema(record_type: type[Record]) -> dict[str, Any]:
    """The current ``.avsc`` (as JSON) of a record type."""
    name = record_type.__name__
    schema = _CURRENT.get(name)
    if schema is None:
        schema = load_avsc(AVRO_DIR / f"{name}.avsc")
        _CURRENT[name] = schema
    return schema


def frame(schema_id: int, body: bytes) -> bytes:
    """Prefix an Avro body with the Confluent header."""
    return _HEADER.pack(MAGIC_BYTE, schema_id) + body


def unframe(data: bytes) -> tuple[int, memoryview]:
    """Split Confluent-framed bytes into schema id and body; ``DecodeError`` if not framed."""
    if len(data) < _HEADER.size:
        raise DecodeError(f"record of {len(data)} bytes is shorter than the 5-byte header")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise DecodeError(f"magic byte is {magic}, expected {MAGIC_BYTE}")
    return schema_id, memoryview(data)[_HEADER.size :]


class AvroCodec:
    """Encodes records for a topic and decodes whatever registered version was written."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self._parsed_current: dict[str, Any] = {}
        self._writers: dict[int, Any] = {}
        self._resolved: dict[tuple[int, str], Callable[[io.BytesIO], Any]] = {}

    def _current(self, record_type: type[Record]) -> Any:
        # Keep fastavro's "already parsed" marker (parse_schema's default): without it
        # schemaless_writer/reader re-parse the schema on every call, ~3x the cost of the
        # encode or decode itself (bench/codec.py).
        name = record_type.__name__
        parsed = self._parsed_current.get(name)
        if parsed is None:
            parsed = parse_schema(current_schema(record_type))
            self._parsed_current[name] = parsed
        return parsed

    def schema_id(self, topic: str, record_type: type[Record]) -> int:
        """The id the registry gives the current schema of ``record_type`` on ``topic``."""
        return self.registry.id_for(subject_for(topic), current_schema(record_type))

    def encoder(self, topic: str, record_type: type[R]) -> Callable[[R], bytes]:
        """A function that encodes ``record_type`` records for ``topic`` (id looked up once)."""
        header = _HEADER.pack(MAGIC_BYTE, self.schema_id(topic, record_type))
        parsed = self._current(record_type)

        def encode(record: R) -> bytes:
            buf = io.BytesIO()
            buf.write(header)
            schemaless_writer(buf, parsed, record.to_avro())
            return buf.getvalue()

        return encode

    def encode(self, topic: str, record: Record) -> bytes:
        """Encode one record for ``topic``."""
        return self.encoder(topic, type(record))(record)

    def _reader(self, schema_id: int, record_type: type[Record]) -> Callable[[io.BytesIO], Any]:
        key = (schema_id, record_type.__name__)
        cached = self._resolved.get(key)
        if cached is not None:
            return cached
        writer: Any = self._writers.get(schema_id)
        if writer is None:
            writer = parse_schema(self.registry.schema_for(schema_id))
            self._writers[schema_id] = writer
        reader: Any = self._current(record_type)
        if writer.get("name") != reader.get("name"):
            raise DecodeError(
                f"schema id {schema_id} is {writer.get('name')}, not {reader.get('name')}"
            )
        same = writer == reader

        def read(buf: io.BytesIO) -> Any:
            if same:
                return schemaless_reader(buf, writer, None)
            return schemaless_reader(buf, writer, reader)

        self._resolved[key] = read
        return read

    def decode_dict(self, data: bytes, record_type: type[Record]) -> dict[str, Any]:
        """Decode to the plain dict fastavro produces (for tail and replay)."""
        schema_id, body = unframe(data)
        read = self._reader(schema_id, record_type)
        buf = io.BytesIO(body)
        try:
            value: dict[str, Any] = read(buf)
        except AVRO_READ_ERRORS as exc:
            raise DecodeError(
                f"Avro body does not decode with schema id {schema_id}: {exc}"
            ) from exc
        if buf.tell() != len(body):
            raise DecodeError(f"{len(body) - buf.tell()} trailing bytes after the Avro body")
        return value

    def decode(self, data: bytes, record_type: type[R]) -> R:
        """Decode Confluent-framed bytes into a typed record; ``DecodeError`` for poison."""
        value = self.decode_dict(data, record_type)
        try:
            return record_type.from_avro(value)
        except (TypeError, ValueError) as exc:
            raise DecodeError(f"decoded value does not fit {record_type.__name__}: {exc}") from exc

    def decode_any(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Decode without knowing the type: the writer schema names it."""
        schema_id, _ = unframe(data)
        name = str(self.registry.schema_for(schema_id).get("name", ""))
        record_type = RECORD_TYPES.get(name)
        if record_type is None:
            raise DecodeError(f"schema id {schema_id} names unknown record {name!r}")
        return name, self.decode_dict(data, record_type)
