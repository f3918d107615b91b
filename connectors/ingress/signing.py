"""HMAC-SHA256 request signing: the canonical string, signing and constant-time checking.

The string to sign is seven lines joined by ``\\n`` (no trailing newline)::

    TP1-HMAC-SHA256
    <METHOD, upper case>
    <canonical path>
    <canonical query>
    <timestamp: Unix seconds, decimal>
    <nonce>
    <hex SHA-256 of the body bytes (of b"" when there is none)>

Both canonical forms work on bytes, never on decoded text, so that a signer in any
language gets the same answer (docs/ingress.md states the rules; a second signer in
JavaScript checks them in tests/ingress/test_second_signer.py):

* path: every ``%XX`` decoded to its byte, then every byte outside the RFC 3986 path
  characters (unreserved, sub-delims, ``:``, ``@``, ``/``) written ``%XX`` in upper-case
  hex. ``%2F`` becomes ``/``: the server routes on the decoded path, so the two mean the
  same request.
* query: split on ``&``, empty pieces dropped; each piece split at its first ``=`` (none:
  an empty value); ``+`` read as a space, then ``%XX`` decoded; pairs sorted by name bytes
  then value bytes; each written with every byte outside ``A-Za-z0-9-._~`` as ``%XX``;
  joined by ``&``.

A ``%`` not followed by two hex digits is malformed (``MalformedTarget``), in either part.
The signature is the lower-case hex HMAC-SHA256 of that string keyed by the UTF-8 bytes of
the secret. Pure functions: no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote_to_bytes

__all__ = [
    "ALGORITHM",
    "HEADER_KEY_ID",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "NONCE_PATTERN",
    "MalformedTarget",
    "body_digest",
    "canonical_path",
    "canonical_query",
    "sign",
    "signature_matches",
    "string_to_sign",
]

ALGORITHM = "TP1-HMAC-SHA256"
HEADER_KEY_ID = "x-tp-key-id"
HEADER_TIMESTAMP = "x-tp-timestamp"
HEADER_NONCE = "x-tp-nonce"
HEADER_SIGNATURE = "x-tp-signature"
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")

_EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()


def body_digest(body: bytes) -> str:
    """Lower-case hex SHA-256 of the body."""
    return hashlib.sha256(body).hexdigest() if body else _EMPTY_DIGEST


class MalformedTarget(ValueError):
    """A path or query with a ``%`` that is not followed by two hex digits."""


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# RFC 3986 pchar minus pct-encoded, plus "/": kept as they are in the canonical path.
_PATH_SAFE = "-._~!$&'()*+,;=:@/"
_QUERY_SAFE = "-._~"


def _unescape(text: str, part: str) -> bytes:
    if _BAD_ESCAPE.search(text):
        raise MalformedTarget(f"the {part} has a '%' that is not followed by two hex digits")
    return unquote_to_bytes(text)


def canonical_path(path: str) -> str:
    """The path with escapes decoded to bytes and re-encoded one way (see the module doc)."""
    return quote(_unescape(path, "path"), safe=_PATH_SAFE)


def canonical_query(query: str) -> str:
    """Query pairs decoded to bytes, sorted by name then value, re-encoded (RFC 3986)."""
    if not query:
        return ""
    pairs: list[tuple[bytes, bytes]] = []
    for piece in query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        pairs.append(
            (
                _unescape(name.replace("+", " "), "query"),
                _unescape(value.replace("+", " "), "query"),
            )
        )
    pairs.sort()
    return "&".join(f"{quote(k, safe=_QUERY_SAFE)}={quote(v, safe=_QUERY_SAFE)}" for k, v in pairs)


def string_to_sign(
    method: str, path: str, query: str, timestamp: str, nonce: str, digest: str
) -> str:
    """The canonical string the signature covers."""
    return "\n".join(
        (
            ALGORITHM,
            method.upper(),
            canonical_path(path),
            canonical_query(query),
            timestamp,
            nonce,
            digest,
        )
    )


def sign(
    secret: str | bytes,
    *,
    method: str,
    path: str,
    query: str = "",
    timestamp: str,
    nonce: str,
    body: bytes = b"",
) -> str:
    """Hex HMAC-SHA256 signature of a request."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = string_to_sign(method, path, query, timestamp, nonce, body_digest(body))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def signature_matches(secrets: Iterable[bytes], message: bytes, presented: str) -> bool:
    """True when ``presented`` is the signature of ``message`` under any of ``secrets``.

    Every secret is tried (no early exit) and each comparison is constant-time, so the
    timing says nothing about which secret or how many bytes matched.
    """
    wanted = presented.lower().encode()
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, message, hashlib.sha256).hexdigest().encode()
        matched |= hmac.compare_digest(expected, wanted)
    return matched
