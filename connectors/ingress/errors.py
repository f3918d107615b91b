"""HTTP errors of the ingress and the one error body they all share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from pydantic import ValidationError

from streams.errors import SinkUnavailable, TradepipeError

__all__ = ["ApiError", "KeyStoreUnavailable", "error_body", "validation_details"]


class ApiError(TradepipeError):
    """A refusal with an HTTP status, an error code, details and extra headers."""

    code = "api_error"

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Iterable[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
        retriable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})
        self.retriable = retriable

    def body(self) -> bytes:
        """The JSON body: ``{"error": {"code", "message", "details"}}``."""
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Iterable[Mapping[str, Any]] = ()) -> bytes:
    """Serialise the shared error body."""
    return orjson.dumps({"error": {"code": code, "message": message, "details": list(details)}})


def validation_details(
    exc: ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[dict[str, Any]]:
    """pydantic errors as ``{"loc", "type", "msg"}`` entries (inputs left out: may be huge)."""
    return [
        {"loc": [*prefix, *err["loc"]], "type": err["type"], "msg": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


class KeyStoreUnavailable(SinkUnavailable):
    """Postgres (the API key store) could not be reached; authentication fails closed."""

    code = "key_store_unavailable"
