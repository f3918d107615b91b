"""HMAC-SHA256 request signing: the canonical string, signing and constant-time checking.

The string to sign is seven lines joined by ``\\n`` (no trailing newline)::

    TP1-HMAC-SHA256
    <METHOD, upper case>
    <path, as in the request line, without the query>
    <canonical query: pairs percent-decoded, sorted, re-encoded (RFC 3986), joined by &>
    <timestamp: Unix seconds, decimal>
    <nonce>
    <hex SHA-256 of the body bytes (of b"" when there is none)>

The signature is the lower-case hex HMAC-SHA256 of that string keyed by the UTF-8 bytes of
the secret. Pure functions: no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote

__all__ = [
    "ALGORITHM",
    "HEADER_KEY_ID",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "NONCE_PATTERN",
    "body_digest",
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


def canonical_query(query: str) -> str:
    """Query pairs decoded, sorted by name then value, re-encoded with RFC 3986 escaping."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    pairs.sort()
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def string_to_sign(
    method: str, path: str, query: str, timestamp: str, nonce: str, digest: str
) -> str:
    """The canonical string the signature covers."""
    return "\n".join(
        (ALGORITHM, method.upper(), path, canonical_query(query), timestamp, nonce, digest)
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
