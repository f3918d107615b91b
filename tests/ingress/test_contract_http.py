"""Contract-level string and number rules, seen over HTTP: hostile values are 422s, not 202s."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from connectors.ingress.client import signed_headers
from connectors.ingress.server import IngressServer
from connectors.ingress.store import IssuedSecret
from tests.ingress.factories import intent_body

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "\u0662\u0664\u0665\u0660.\u0660\u0665"),  # Arabic-Indic digits
        ("price", "\uff12\uff14\uff15\uff10"),  # full-width digits
        ("price", "2_450.05"),
        ("price", " 2450.05 "),
        ("price", "2450.05\n"),
        ("price", "+2450.05"),
        ("price", "2.45005e3"),
        ("symbol", "a\u0000b"),
        ("symbol", "RELIANCE\u202eQE-"),  # right-to-left override
        ("symbol", "REL\u0007IANCE"),
        ("symbol", "REL\u200bIANCE"),  # zero-width space
        ("symbol", "x" * 65),
    ],
)
async def test_hostile_value_is_a_422_naming_the_field(
    ingress: IngressServer, key: IssuedSecret, unique: str, field: str, value: Any
) -> None:
    body = orjson.dumps(intent_body(unique, **{field: value}))
    headers = signed_headers(key.key_id, key.secret, method="POST", path="/v1/orders", body=body)
    headers["Content-Type"] = "application/json"

    async with httpx.AsyncClient(base_url=ingress.url) as http:
        response = await http.post("/v1/orders", content=body, headers=headers)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert any(d["loc"][:2] == ["body", field] for d in error["details"]), error["details"]
