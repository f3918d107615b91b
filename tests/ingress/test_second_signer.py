"""A JavaScript signer written from docs/ingress.md alone agrees with the server.

``second_signer.mjs`` signs and sends each request with node's own HTTP client, the target
written exactly as in the table. The server must accept the signature (the expected status
is what the route says *after* authentication: 404 for an unknown order, 422 for an id
outside the pattern, 202 for an order), and the JavaScript canonical forms must equal the
Python ones.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.ingress.server import IngressServer
from connectors.ingress.signing import canonical_path, canonical_query
from connectors.ingress.store import IssuedSecret
from tests.conftest import service_missing
from tests.ingress.factories import intent_body

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]

SIGNER = Path(__file__).with_name("second_signer.mjs")
ORDER = "/v1/orders/"

# (target, status after authentication)
CASES: list[tuple[str, int]] = [
    (ORDER + "it-1", 404),
    (ORDER + "it%2d1", 404),  # an escaped unreserved character, lower-case hex
    (ORDER + "a:b", 404),
    (ORDER + "a%3Ab", 404),  # the same id, escaped
    (ORDER + "a%20b", 422),  # a space
    (ORDER + "%C3%A9t%C3%A9", 422),  # unicode
    (ORDER + "%c3%a9", 422),  # unicode, lower-case hex
    (ORDER + "%F0%9F%98%80", 422),  # outside the BMP
    (ORDER + "%FF%FE", 422),  # not UTF-8: signed as bytes
    (ORDER + "a+b", 422),  # a plus sign in the path is a plus sign
    (ORDER + "a%2Bb", 422),
    (ORDER + "a!$&'()*,;=@", 422),  # sub-delims stay as they are
    (ORDER + "a%2Fb", 404),  # decoded before routing: /v1/orders/a/b is no route
    (ORDER + "it-1?b=2&a=1", 404),  # ordering
    (ORDER + "it-1?a=2&a=1&a=10&a=", 404),  # repeated keys, an empty value
    (ORDER + "it-1?a=&b&=c&&", 404),  # no "=", empty name, empty pieces
    (ORDER + "it-1?q=a+b&q=a%2Bb&q=a%20b", 404),  # "+" is a space in the query
    (ORDER + "it-1?x=%2F&y=/&z=%2f", 404),  # encoded slashes
    (ORDER + "it-1?k=%E2%82%AC&k=%F0%9F%98%80&k=%EF%BF%BD", 404),  # byte order, not UTF-16
    (ORDER + "it-1?B=1&a=1&_=1&~=1&-=1&.=1&%7e=2", 404),  # ASCII order of punctuation
    (ORDER + "it-1?a=b=c&a==", 404),  # split at the first "="
    (ORDER + "it-1?%61=1&a=2", 404),  # an escaped name equals the plain one
    (ORDER + "it-1?", 404),  # an empty query
    (ORDER + "it-1?r=https%3A%2F%2Fexample.com%2F%3Fx%3D1%26y", 404),
    (ORDER + "it-1?c=%00&c=%0A&c=%7F", 404),  # control bytes
    (ORDER + "it-1?a=100%", 400),  # malformed escape
    (ORDER + "bad%zz", 400),
]


async def _run_signer(
    ingress: IngressServer, key: IssuedSecret, cases: list[dict[str, object]]
) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        service_missing("node", FileNotFoundError("node is not on PATH"))
    payload = {"base": ingress.url, "key_id": key.key_id, "secret": key.secret, "cases": cases}
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SIGNER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(payload).encode()), 60)
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


async def test_javascript_signer_from_the_docs_agrees_with_the_server(
    ingress: IngressServer, key: IssuedSecret, unique: str
) -> None:
    cases: list[dict[str, object]] = [
        {"method": "GET", "target": target, "body": None} for target, _ in CASES
    ]
    body = orjson.dumps(intent_body(unique)).decode()
    cases.append({"method": "POST", "target": "/v1/orders?dry=0&b=+", "body": body})

    results = await _run_signer(ingress, key, cases)

    assert len(results) == len(cases)
    got = {r["target"]: r["status"] for r in results}
    wanted = dict(CASES) | {"/v1/orders?dry=0&b=+": 202}
    assert got == wanted, {t: (got[t], wanted[t]) for t in got if got[t] != wanted[t]}
    for result in results:
        if result["status"] == 400:
            assert json.loads(result["body"])["error"]["code"] == "malformed_request"
            continue
        path, _, query = result["target"].partition("?")
        assert (result["path"], result["query"]) == (canonical_path(path), canonical_query(query))
