"""JSON lines for decoded records: Decimals as strings (exact), datetimes as ISO 8601 UTC."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["dumps_line"]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode()}
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps_line(obj: Any) -> str:
    """One JSON line (no trailing newline)."""
    return orjson.dumps(obj, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()
