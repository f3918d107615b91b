"""Property-based run of schemathesis against /openapi.json with valid signatures.

Every generated request is signed (a ``requests`` auth hook over the final method, path,
query and body), so the run reaches the handlers. Two phases: every operation with positive
and negative (schema-violating) data, then stateful scenarios that follow the document's
links (an accepted intent's id into ``GET /v1/orders/{intent_id}``). No 5xx, no response
outside the schema, and every negative case refused with a 4xx. Bounded examples keep the
whole test under a minute on a quiet machine.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi import checks as openapi_checks

from connectors.ingress.client import signed_headers
from connectors.ingress.server import IngressServer

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

EXAMPLES = 100
STATEFUL_EXAMPLES = 25
CHECKS = [
    checks.not_a_server_error,
    checks.negative_data_rejection,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]


class SigningAuth(requests.auth.AuthBase):
    """Signs the prepared request exactly as it goes on the wire."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        request.headers.update(
            signed_headers(
                self.key_id,
                self.secret,
                method=request.method or "GET",
                path=url.path,
                query=url.query,
                body=body,
            )
        )
        return request


def _fuzz(
    base_url: str, key_id: str, secret: str, spec: dict[str, Any]
) -> Counter[tuple[str, int]]:
    schema = schemathesis.openapi.from_dict(spec)
    session = requests.Session()
    session.auth = SigningAuth(key_id, secret)
    seen: Counter[tuple[str, int]] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = strategies.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, session=session, timeout=10)
            seen[(case.operation.label, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS)

        run()
    return seen


def _linkable(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with a submit body that is usually accepted, so that links get followed.

    Generated intents are mostly refused (422: prices and stop prices that do not fit the
    order type, decimals over 4 places, quantities sent as 5.0), and only a 202 has a link
    to follow. The first phase covers the full request schema; this one narrows it to
    MARKET intents of a small quantity, without an Idempotency-Key (random keys collide).
    """
    narrowed = copy.deepcopy(spec)
    intent = narrowed["components"]["schemas"]["OrderIntentIn"]
    intent.pop("allOf", None)
    for name in ("price", "trigger_price"):
        intent["properties"].pop(name, None)
    intent["properties"]["order_type"] = {"enum": ["MARKET"]}
    intent["properties"]["quantity"] = {"enum": [1, 2, 3]}
    post = narrowed["paths"]["/v1/orders"]["post"]
    post["parameters"] = [p for p in post["parameters"] if p["name"] != "Idempotency-Key"]
    post["requestBody"]["content"]["application/json"]["schema"] = {"$ref": _INTENT_REF}
    return narrowed


_INTENT_REF = "#/components/schemas/OrderIntentIn"


def _stateful(
    base_url: str, key_id: str, secret: str, spec: dict[str, Any]
) -> tuple[Counter[tuple[str, int]], set[str], set[str]]:
    schema = schemathesis.openapi.from_dict(_linkable(spec))
    session = requests.Session()
    session.auth = SigningAuth(key_id, secret)
    seen: Counter[tuple[str, int]] = Counter()
    accepted: set[str] = set()
    followed: set[str] = set()

    class Signed(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"session": session, "base_url": base_url, "timeout": 10}

        def validate_response(
            self, response: Any, case: schemathesis.Case, *_: Any, **kwargs: Any
        ) -> None:
            seen[(case.operation.label, response.status_code)] += 1
            if case.operation.label == "POST /v1/orders" and response.status_code == 202:
                accepted.update(a["intent_id"] for a in response.json()["accepted"])
            if case.operation.label == "GET /v1/orders/{intent_id}":
                followed.add(str((case.path_parameters or {}).get("intent_id")))
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Signed.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=4,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    return seen, accepted, followed


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    ingress: IngressServer, unique: str
) -> None:
    assert ingress.runtime.store is not None
    key = await ingress.runtime.store.create(
        "fuzz", scopes=["submit", "read", "admin"], rate_per_s=10_000, burst=10_000
    )
    import httpx

    async with httpx.AsyncClient(base_url=ingress.url) as http:
        spec = (await http.get("/openapi.json")).json()

    # The auth hook writes the X-TP-* headers over whatever was generated, so a negative
    # case that mutated or dropped them (as parameters or as the security scheme) would be
    # sent signed and valid, and counted as a negative case accepted. They are taken out of
    # the fuzzed copy; test_auth.py covers them.
    for item in spec["paths"].values():
        for operation in item.values():
            operation.pop("security", None)
            operation["parameters"] = [
                p for p in operation.get("parameters", []) if not p["name"].startswith("X-TP-")
            ]

    # The server runs on this loop; the blocking fuzzer runs in a thread beside it.
    seen = await asyncio.to_thread(_fuzz, ingress.url, key.key_id, key.secret, spec)

    steps, accepted, followed = await asyncio.to_thread(
        _stateful, ingress.url, key.key_id, key.secret, spec
    )

    labels = {label for label, _ in seen}
    assert len(labels) == len([m for p in spec["paths"].values() for m in p])
    assert seen[("POST /v1/orders", 202)] > 0, seen  # valid data got through, not only 4xx
    assert seen[("POST /v1/control/kill-switch", 202)] > 0, seen
    assert not [code for _, code in seen if code >= 500]
    assert not [code for _, code in steps if code >= 500]
    # Every request was signed by the client library: a 401 is a disagreement between the
    # client's canonical request and the server's (paths and queries schemathesis made up).
    assert not [label for label, code in (seen + steps) if code == 401], seen + steps
    assert accepted & followed, (steps, len(accepted), len(followed))  # a link was followed
