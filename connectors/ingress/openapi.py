"""OpenAPI 3.1 for the ingress, generated from the pydantic models in ``models``.

Request schemas use pydantic's validation mode (what the server accepts), response schemas
its serialization mode (what it sends); both come from the classes the server runs.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from connectors.ingress import models as m
from connectors.ingress.signing import (
    HEADER_KEY_ID,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
)
from streams.settings import IngressSettings

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "malformed JSON or header",
        401: "missing, invalid, stale or replayed signature",
        403: "scope, address or account not allowed",
        404: "not found",
        408: "the request body did not arrive in time",
        409: "Idempotency-Key reused with another body, or still in progress",
        413: "body or batch too large",
        415: "the body is not declared as application/json",
        422: "the body does not match the contract",
        429: "rate limited (see Retry-After)",
        503: "Redis, Postgres or Kafka unavailable; nothing was acknowledged (see Retry-After)",
    }
    out: dict[str, Any] = {}
    for code in codes:
        out[str(code)] = {"description": text[code], "content": _json(_ref("ErrorBody"))}
        if code in (429, 503):
            out[str(code)]["headers"] = {
                "Retry-After": {
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    "description": "seconds",
                },
            }
    return out


def _signed_headers() -> list[dict[str, Any]]:
    # Documented for clients; required in practice (401 without them).
    headers = [
        (HEADER_KEY_ID, "API key id", r"^[A-Za-z0-9_-]{1,64}$"),
        (HEADER_TIMESTAMP, "Unix seconds; within the server's window", r"^[0-9]{1,12}$"),
        (HEADER_NONCE, "unique per request, 16-128 of [A-Za-z0-9_-]", r"^[A-Za-z0-9_-]{16,128}$"),
        (HEADER_SIGNATURE, "hex HMAC-SHA256 of the canonical request", r"^[0-9a-f]{64}$"),
    ]
    return [
        {
            "name": name.title().replace("Tp", "TP"),
            "in": "header",
            "required": False,
            "description": desc,
            "schema": {"type": "string", "pattern": pattern},
        }
        for name, desc, pattern in headers
    ]


_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "same key and body: the first response is replayed; other body: 409",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
}
_SIGNED_ERRORS = (400, 401, 403, 408, 409, 413, 415, 422, 429, 503)


def openapi_document(ingress: IngressSettings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the ingress."""
    _, defs = models_json_schema(
        [
            (m.OrderIntentIn, "validation"),
            (m.OrderBatchIn, "validation"),
            (m.KillSwitchRequest, "validation"),
            (m.OrdersAccepted, "serialization"),
            (m.OrderStateOut, "serialization"),
            (m.KillSwitchAccepted, "serialization"),
            (m.ErrorBody, "serialization"),
            (m.Health, "serialization"),
        ],
        ref_template=_REF,
    )
    schemas = defs["$defs"]
    schemas["OrderBatchIn"]["properties"]["orders"]["maxItems"] = ingress.max_batch
    signed = _signed_headers()
    paths: dict[str, Any] = {
        "/v1/orders": {
            "post": {
                "operationId": "submitOrders",
                "summary": "Submit one order intent or a batch",
                "security": [{"hmac": []}],
                "parameters": [*signed, _IDEMPOTENCY],
                "requestBody": {
                    "required": True,
                    "content": _json({"oneOf": [_ref("OrderIntentIn"), _ref("OrderBatchIn")]}),
                },
                "responses": {
                    "202": {
                        "description": "every intent is on orders.intents.v1, acknowledged",
                        "content": _json(_ref("OrdersAccepted")),
                        "links": {
                            "GetFirstOrder": {
                                "operationId": "getOrder",
                                "parameters": {"intent_id": "$response.body#/accepted/0/intent_id"},
                                "description": "the state of the first accepted intent",
                            }
                        },
                    },
                    **_errors(*_SIGNED_ERRORS),
                },
            }
        },
        "/v1/orders/{intent_id}": {
            "get": {
                "operationId": "getOrder",
                "summary": "An order's current state and history",
                "security": [{"hmac": []}],
                "parameters": [
                    {
                        "name": "intent_id",
                        "in": "path",
                        "required": True,
                        "schema": {
                            "type": "string",
                            "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
                        },
                    },
                    *signed,
                ],
                "responses": {
                    "200": {"description": "the order", "content": _json(_ref("OrderStateOut"))},
                    **_errors(400, 401, 403, 404, 408, 413, 422, 429, 503),
                },
            }
        },
        "/v1/control/kill-switch": {
            "post": {
                "operationId": "killSwitch",
                "summary": "Set the trading state (admin scope)",
                "security": [{"hmac": []}],
                "parameters": [*signed, _IDEMPOTENCY],
                "requestBody": {"required": True, "content": _json(_ref("KillSwitchRequest"))},
                "responses": {
                    "202": {
                        "description": "the command is on control.commands.v1",
                        "content": _json(_ref("KillSwitchAccepted")),
                    },
                    **_errors(*_SIGNED_ERRORS),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness",
                "responses": {"200": {"description": "alive", "content": _json(_ref("Health"))}},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Broker, Redis and Postgres",
                "responses": {
                    "200": {"description": "ready", "content": _json(_ref("Health"))},
                    "503": {
                        "description": "a dependency is down: the error body, with the checks",
                        "content": _json({"allOf": [_ref("ErrorBody"), _ref("Health")]}),
                        "headers": {"Retry-After": {"schema": {"type": "string"}}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tradepipe ingress",
            "version": "1.0.0",
            "description": "Signed order intake. See docs/ingress.md for the signature.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "hmac": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-TP-Signature",
                    "description": "HMAC-SHA256 over method, path, canonical query, timestamp,"
                    " nonce and body SHA-256; with X-TP-Key-Id, X-TP-Timestamp, X-TP-Nonce",
                }
            },
        },
    }
