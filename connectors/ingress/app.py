"""The ingress ASGI application (Starlette): routes, the signed-request pipeline, errors.

Every signed route runs the same steps, timed per phase
(``tradepipe_ingress_phase_seconds``): read the body within the size limit → authenticate
(key, window, signature, address, scope) → validate → one Redis script (nonce, rate limits,
idempotency) → the route's work (Kafka acks) → store the idempotent response.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.ingress import routes
from connectors.ingress.auth import AuthError
from connectors.ingress.body import check_media_type
from connectors.ingress.errors import ApiError, error_body
from connectors.ingress.guard import Limit
from connectors.ingress.openapi import openapi_document
from connectors.ingress.routes import Call, Prepared
from connectors.ingress.runtime import IngressRuntime
from schemas.records import AuditEvent
from streams import metrics
from streams.errors import TradepipeError
from streams.settings import Settings

__all__ = ["create_app"]

log = structlog.get_logger(__name__)

_JSON = "application/json"
_TRACE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_IDEM = re.compile(r"^[\x21-\x7e]{1,255}$")


Handler = Callable[[Call], Prepared]


def _json(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


_PHASES = {
    name: metrics.INGRESS_PHASE_SECONDS.labels(phase=name)
    for name in ("auth", "validate", "redis", "work")
}


def _phase(name: str, began: float) -> float:
    now = time.perf_counter()
    _PHASES[name].observe(now - began)
    return now


async def _read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "payload_too_large", f"request bodies are limited to {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(
                        413, "payload_too_large", f"request bodies are limited to {limit} bytes"
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408,
            "request_timeout",
            f"the request body did not arrive within {timeout_s:g} s",
            headers={"Connection": "close"},
        ) from None
    return b"".join(chunks)


def _raw_path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    # uvicorn refuses a request target that is not ASCII, so latin-1 cannot misread it.
    return raw.decode("latin-1") if isinstance(raw, bytes) else str(request.scope["path"])


def _audit(runtime: IngressRuntime, action: str, **fields: Any) -> None:
    event = AuditEvent(event_id=uuid.uuid4().hex, action=action, **fields)
    # Fire and forget: the publisher bounds the wait and counts drops.
    runtime.background(runtime.publisher.publish_audit(event))


class _Signed:
    """Wraps a route handler in the signed-request pipeline."""

    def __init__(self, runtime: IngressRuntime, name: str, scope: str, handler: Handler) -> None:
        self.runtime = runtime
        self.name = name
        self.scope = scope
        self.handler = handler
        ingress = runtime.settings.ingress
        self.max_body = ingress.max_body_bytes
        self.body_timeout_s = ingress.body_timeout_s
        self.nonce_ttl = 2 * ingress.timestamp_window_s + 60
        self.idem_ttl = ingress.idempotency_ttl_s
        self.retry_after = str(ingress.retry_after_s)

    async def handle(self, request: Request) -> Response:
        """Run the pipeline for one request (the Starlette endpoint)."""
        began = time.perf_counter()
        supplied = request.headers.get("x-trace-id", "")
        trace_id = supplied if _TRACE.match(supplied) else uuid.uuid4().hex
        try:
            response = await self._run(request, trace_id)
        except ClientDisconnect:
            # The client went away mid-body: its doing, not a server error. Counted under
            # 499 (the status nginx logs for it) so a 5xx alert does not fire on it.
            log.info("ingress_client_disconnected", route=self.name, trace_id=trace_id)
            response = Response(status_code=499)
        except AuthError as err:
            _audit(
                self.runtime,
                "auth_failed",
                actor=err.key_id or f"ip:{err.address}",
                outcome="refused",
                subject=err.key_id,
                trace_id=trace_id,
                details={"reason": err.reason, "route": self.name, "address": str(err.address)},
            )
            response = _json(err.status, err.body(), err.headers)
        except ApiError as err:
            response = _json(err.status, err.body(), err.headers)
        except TradepipeError as err:
            if err.retriable:
                log.warning(
                    "ingress_dependency_unavailable", route=self.name, code=err.code, error=str(err)
                )
                body = error_body(err.code, str(err))
                response = _json(503, body, {"Retry-After": self.retry_after})
            else:  # e.g. a secret that no configured master key decrypts: an operator problem
                log.error("ingress_internal_error", route=self.name, code=err.code, error=str(err))
                response = _json(500, error_body("internal_error", "server misconfiguration"))
        except Exception:  # the one top-level guard: an unexpected error is a logged 500
            log.exception("ingress_unexpected_error", route=self.name, trace_id=trace_id)
            response = _json(500, error_body("internal_error", "unexpected error; it was logged"))
        response.headers["x-trace-id"] = trace_id
        metrics.INGRESS_REQUESTS.labels(route=self.name, code=str(response.status_code)).inc()
        metrics.INGRESS_REQUEST_SECONDS.labels(route=self.name).observe(time.perf_counter() - began)
        return response

    async def _run(self, request: Request, trace_id: str) -> Response:
        runtime = self.runtime
        assert runtime.auth is not None, "runtime not started"
        t = time.perf_counter()
        if request.method == "POST":
            check_media_type(request.headers.get("content-type"))
        body = await _read_body(request, self.max_body, self.body_timeout_s)
        auth = await runtime.auth.authenticate(
            method=request.method,
            # As sent (escapes intact): the signature covers the canonical form of it.
            path=_raw_path(request),
            query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=request.headers,
            body=body,
            peer=request.client.host if request.client else None,
            forwarded_for=request.headers.getlist("x-forwarded-for"),
        )
        auth.require(self.scope)
        t = _phase("auth", t)
        call = Call(request, runtime, body, auth, trace_id)
        prepared = self.handler(call)
        limits = prepared.limits
        t = _phase("validate", t)
        key = auth.key
        limits.insert(
            0,
            Limit(
                "key",
                runtime.guard.key("rl", "key", key.key_id),
                key.rate_per_s or runtime.settings.ingress.key_rate_per_s,
                key.burst or runtime.settings.ingress.key_burst,
            ),
        )
        idem = request.headers.get("idempotency-key")
        idem_key = digest = ""
        if idem is not None and request.method == "POST":
            if not _IDEM.match(idem):
                raise ApiError(
                    400,
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1-255 printable ASCII characters",
                )
            idem_key = runtime.guard.key(
                "idem", key.key_id, hashlib.sha256(idem.encode()).hexdigest()
            )
            digest = hashlib.sha256(request.scope["path"].encode() + b"\n" + body).hexdigest()
        admission = await runtime.guard.admit(
            nonce_key=runtime.guard.key("nonce", key.key_id, auth.nonce),
            nonce_ttl_s=self.nonce_ttl,
            limits=limits,
            idem_key=idem_key,
            idem_digest=digest,
            idem_ttl_s=self.idem_ttl,
        )
        t = _phase("redis", t)
        if admission.outcome == "replay":
            metrics.INGRESS_AUTH_FAILURES.labels(reason="replayed_nonce").inc()
            raise AuthError(
                401,
                "replayed_nonce",
                "this nonce was used already",
                reason="replayed_nonce",
                key_id=key.key_id,
                address=auth.address,
            )
        if admission.outcome == "limited":
            return self._limited(call, admission.scope, admission.retry_after_s, limits)
        if admission.outcome == "idempotent":
            return self._replay(admission.stored or "", digest)
        if prepared.error is not None:
            status, payload = prepared.error.status, prepared.error.body()
        else:
            try:
                status, payload = await prepared.run()
            except TradepipeError:
                if idem_key:
                    await runtime.guard.release(idem_key)
                raise
            t = _phase("work", t)
        if idem_key:
            await runtime.guard.complete(idem_key, digest, status, payload, self.idem_ttl)
        return _json(status, payload)

    def _limited(
        self, call: Call, scope: str, retry_after_s: float, limits: list[Limit]
    ) -> Response:
        metrics.INGRESS_RATE_LIMITED.labels(scope=scope).inc()
        account = next(
            (
                lim.key.rsplit(":", 1)[-1]
                for lim in limits
                if lim.scope == scope and scope == "account"
            ),
            None,
        )
        _audit(
            self.runtime,
            "rate_limited",
            actor=call.auth.key.key_id,
            outcome="refused",
            account_id=account,
            subject=call.auth.key.key_id,
            trace_id=call.trace_id,
            details={"scope": scope, "route": self.name},
        )
        retry = str(max(1, math.ceil(retry_after_s)))
        body = error_body(
            "rate_limited",
            f"{scope} rate limit exceeded; retry in {retry} s",
            [{"loc": [scope], "type": "rate_limited", "msg": f"retry after {retry} s"}],
        )
        return _json(429, body, {"Retry-After": retry})

    @staticmethod
    def _replay(stored: str, digest: str) -> Response:
        parts = stored.split("|", 3)
        if parts[0] != digest:
            raise ApiError(
                409,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body",
            )
        if parts[1] != "d" or len(parts) < 4:
            raise ApiError(
                409,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed",
                headers={"Retry-After": "1"},
            )
        return _json(int(parts[2]), parts[3].encode(), {"idempotent-replayed": "true"})


def create_app(settings: Settings, runtime: IngressRuntime | None = None) -> Starlette:
    """The ASGI app; without ``runtime`` it builds one and runs it for the app's lifespan."""
    own = runtime is None
    rt = runtime or IngressRuntime(settings)
    spec = orjson.dumps(openapi_document(settings.ingress))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> Any:
        if own:
            await rt.start()
        try:
            yield
        finally:
            if own:
                await rt.stop()

    async def healthz(_: Request) -> Response:
        return _json(200, b'{"status":"ok","checks":{}}')

    async def readyz(_: Request) -> Response:
        checks = await rt.readiness()
        down = sorted(name for name, check in checks.items() if not check["ok"])
        if not down:
            return _json(200, orjson.dumps({"status": "ok", "checks": checks}))
        # The error body like every non-2xx answer, with the per-check detail beside it.
        body = {
            "error": {
                "code": "not_ready",
                "message": f"unavailable: {', '.join(down)}",
                "details": [
                    {"loc": ["checks", name], "type": "unavailable", "msg": f"{name} is down"}
                    for name in down
                ],
            },
            "status": "unavailable",
            "checks": checks,
        }
        return _json(503, orjson.dumps(body), {"Retry-After": "1"})

    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def openapi(_: Request) -> Response:
        return _json(200, spec)

    async def http_error(_: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        return _json(status, error_body(code, str(getattr(exc, "detail", "error"))))

    async def server_error(_: Request, exc: Exception) -> Response:
        # Starlette's last resort (outside the signed pipeline, which has its own guard).
        log.error("ingress_unexpected_error", route="-", error=exc.__class__.__name__)
        return _json(500, error_body("internal_error", "unexpected error; it was logged"))

    app = Starlette(
        routes=[
            Route(
                "/v1/orders",
                _Signed(rt, "orders_submit", "submit", routes.submit_orders).handle,
                methods=["POST"],
            ),
            Route(
                "/v1/orders/{intent_id}",
                _Signed(rt, "orders_get", "read", routes.get_order).handle,
                methods=["GET"],
            ),
            Route(
                "/v1/control/kill-switch",
                _Signed(rt, "kill_switch", "admin", routes.kill_switch).handle,
                methods=["POST"],
            ),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.runtime = rt
    return app
