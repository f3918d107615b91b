"""Strict request bodies: JSON only (by media type), well-formed, no duplicate keys.

orjson parses (it refuses invalid UTF-8, lone surrogates, NaN and Infinity); the standard
library's decoder then looks for duplicate keys, which orjson silently resolves to the last
one. A duplicate is an ambiguity between this server and any other parser of the same
bytes (a proxy, an audit log), so it is refused rather than guessed.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from connectors.ingress.errors import ApiError

__all__ = ["check_media_type", "parse_json"]

_JSON = "application/json"


def check_media_type(content_type: str | None) -> None:
    """415 unless the body is declared ``application/json`` (UTF-8, the only JSON charset)."""
    media, _, params = (content_type or "").partition(";")
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if media.strip().lower() != _JSON or charset not in ("", "utf-8"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "the body must be sent as Content-Type: application/json",
            details=[
                {
                    "loc": ["header", "content-type"],
                    "type": "unsupported_media_type",
                    "msg": f"got {content_type!r}" if content_type else "no Content-Type",
                }
            ],
        )


class _Duplicate(Exception):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Duplicate
    return out


class _Marked(dict[str, Any]):
    """An object that remembers which of its keys were repeated (error path only)."""

    duplicates: list[str]


def _mark_duplicates(pairs: list[tuple[str, Any]]) -> _Marked:
    out = _Marked()
    out.duplicates = []
    for name, value in pairs:
        if name in out and name not in out.duplicates:
            out.duplicates.append(name)
        out[name] = value
    return out


def _duplicate_paths(node: Any, path: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = []
    if isinstance(node, _Marked):
        found += [(*path, name) for name in node.duplicates]
        for name, value in node.items():
            found += _duplicate_paths(value, (*path, name))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _duplicate_paths(value, (*path, i))
    return found


_STRICT = json.JSONDecoder(object_pairs_hook=_refuse_duplicates)
_MARKING = json.JSONDecoder(object_pairs_hook=_mark_duplicates)


def parse_json(body: bytes) -> object:
    """The parsed body; 400 ``malformed_json`` naming every repeated key otherwise."""
    if not body:
        raise ApiError(400, "malformed_json", "the request body is empty; JSON expected")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            "malformed_json",
            "the request body is not valid JSON",
            details=[{"loc": ["body"], "type": "json_invalid", "msg": str(exc)}],
        ) from exc
    # orjson has already refused anything that is not UTF-8, so the decode cannot fail.
    text = body.decode()
    try:
        _STRICT.decode(text)
    except RecursionError:  # orjson allows 1,024 levels, the standard library fewer
        raise ApiError(
            400,
            "malformed_json",
            "the request body is nested too deeply",
            details=[{"loc": ["body"], "type": "json_too_deep", "msg": "too many nested levels"}],
        ) from None
    except _Duplicate:
        paths = _duplicate_paths(_MARKING.decode(text), ("body",))
        raise ApiError(
            400,
            "malformed_json",
            "the request body repeats a key",
            details=[
                {"loc": list(p), "type": "json_duplicate_key", "msg": f"{p[-1]!r} appears twice"}
                for p in paths
            ],
        ) from None
    return data
