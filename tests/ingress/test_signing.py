"""Signing vectors: fixed inputs give fixed signatures (pure, no services)."""

from __future__ import annotations

import hashlib

import pytest

from connectors.ingress.signing import (
    body_digest,
    canonical_query,
    sign,
    signature_matches,
    string_to_sign,
)

SECRET = "tpsk_test-secret"


def test_signature_of_post_with_body_matches_the_published_vector() -> None:
    signature = sign(
        SECRET,
        method="POST",
        path="/v1/orders",
        timestamp="1700000000",
        nonce="n0nce-0000000000001",
        body=b'{"a":1}',
    )

    # Also what `openssl dgst -sha256 -hmac` prints for the same string (see docs/ingress.md).
    assert signature == "17136eff1577a82e7371d1ff2c9c70a41baa59272626fa9224c9af0d4a5398f7"


def test_signature_of_get_with_query_matches_the_published_vector() -> None:
    signature = sign(
        SECRET,
        method="get",
        path="/v1/orders/it-1",
        query="b=2&a=1&a=0&c=x%20y",
        timestamp="1700000000",
        nonce="n0nce-0000000000002",
    )

    assert signature == "d2e5fee7e2b162139ed5ac3d42e5048450d567cde762404bc37366fdb80ebdaf"


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("", ""),
        ("b=2&a=1&a=0", "a=0&a=1&b=2"),
        ("c=x%20y&d=&e=%7E+", "c=x%20y&d=&e=~%20"),
        ("z=%2F&y=a+b", "y=a%20b&z=%2F"),
    ],
)
def test_canonical_query_sorts_and_reencodes_pairs(query: str, canonical: str) -> None:
    assert canonical_query(query) == canonical


def test_string_to_sign_has_seven_lines_in_fixed_order() -> None:
    text = string_to_sign("post", "/v1/orders", "", "1", "nonce", body_digest(b""))

    assert text.split("\n") == [
        "TP1-HMAC-SHA256",
        "POST",
        "/v1/orders",
        "",
        "1",
        "nonce",
        hashlib.sha256(b"").hexdigest(),
    ]


def test_signature_matches_any_active_secret_and_no_other() -> None:
    message = string_to_sign("POST", "/v1/orders", "", "1", "nonce", body_digest(b"x")).encode()
    good = sign("new", method="POST", path="/v1/orders", timestamp="1", nonce="nonce", body=b"x")

    assert signature_matches([b"old", b"new"], message, good)
    assert signature_matches([b"old", b"new"], message, good.upper())
    assert not signature_matches([b"old"], message, good)
    assert not signature_matches([], message, good)
