"""The signed routes' own work: parse and validate, then publish or read.

A handler is synchronous and does no I/O: it validates the request and returns a
``Prepared`` with the rate limits the request costs and either an error (4xx, sent after
the Redis admission so the nonce and budget are still consumed) or the work to do.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.requests import Request

from connectors.ingress.auth import AuthError
from connectors.ingress.body import parse_json
from connectors.ingress.errors import ApiError, validation_details
from connectors.ingress.guard import Limit
from connectors.ingress.models import (
    AcceptedIntent,
    KillSwitchAccepted,
    KillSwitchRequest,
    OrderBatchIn,
    OrderIntentIn,
    OrdersAccepted,
)
from schemas.records import AuditEvent, CommandKind, ControlCommand, utcnow
from streams import metrics
from streams.topics import INTENTS

if TYPE_CHECKING:
    from connectors.ingress.auth import AuthContext
    from connectors.ingress.runtime import IngressRuntime

__all__ = ["Call", "Prepared", "get_order", "kill_switch", "submit_orders"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
Work = Callable[[], Awaitable[tuple[int, bytes]]]


class Call:
    """One authenticated request in flight."""

    __slots__ = ("auth", "body", "request", "runtime", "trace_id")

    def __init__(
        self,
        request: Request,
        runtime: IngressRuntime,
        body: bytes,
        auth: AuthContext,
        trace_id: str,
    ) -> None:
        self.request = request
        self.runtime = runtime
        self.body = body
        self.auth = auth
        self.trace_id = trace_id


@dataclass(slots=True)
class Prepared:
    """What a validated request costs, and what it does (or the error it gets)."""

    limits: list[Limit] = field(default_factory=list)
    work: Work | None = None
    error: ApiError | None = None

    async def run(self) -> tuple[int, bytes]:
        """Do the work (only called when there is no error)."""
        assert self.work is not None, "Prepared without work or error"
        return await self.work()


def _invalid(exc: ValidationError) -> ApiError:
    return ApiError(
        422,
        "validation_failed",
        "the request does not match the contract",
        details=validation_details(exc, ("body",)),
    )


def submit_orders(call: Call) -> Prepared:
    """``POST /v1/orders``: one intent object, or ``{"orders": [...]}``."""
    ingress = call.runtime.settings.ingress
    try:
        data = parse_json(call.body)
        batch = isinstance(data, dict) and "orders" in data
        orders = data.get("orders") if isinstance(data, dict) else None
        # Counted before validation: the documented answer is 413, and a batch too large
        # to accept is not worth validating.
        if isinstance(orders, list) and len(orders) > ingress.max_batch:
            raise ApiError(
                413,
                "batch_too_large",
                f"at most {ingress.max_batch} orders per request",
                details=[
                    {
                        "loc": ["body", "orders"],
                        "type": "batch_too_large",
                        "msg": f"{len(orders)} orders; at most {ingress.max_batch}",
                    }
                ],
            )
        try:
            if batch:
                intents = OrderBatchIn.model_validate(data).orders
            else:
                intents = [OrderIntentIn.model_validate(data)]
        except ValidationError as exc:
            raise _invalid(exc) from exc
    except ApiError as err:
        return Prepared(error=err)
    per_account = Counter(i.account_id for i in intents)
    for account in per_account:
        if not call.auth.may_use_account(account):
            metrics.INGRESS_AUTH_FAILURES.labels(reason="account_not_allowed").inc()
            raise AuthError(
                403,
                "account_not_allowed",
                f"this key may not submit for {account!r}",
                reason="account_not_allowed",
                key_id=call.auth.key.key_id,
                address=call.auth.address,
            )
    guard = call.runtime.guard
    limits = [
        Limit(
            "account",
            guard.key("rl", "acct", account),
            ingress.account_rate_per_s,
            ingress.account_burst,
            cost,
        )
        for account, cost in per_account.items()
    ]
    if any(cost > ingress.account_burst for cost in per_account.values()):
        return Prepared(
            error=ApiError(
                413,
                "batch_too_large",
                f"at most {ingress.account_burst} orders per account per request",
            )
        )

    async def publish() -> tuple[int, bytes]:
        now = utcnow()
        records = [i.to_record(trace_id=call.trace_id, created_at=now) for i in intents]
        written = await call.runtime.publisher.publish_intents(records, call.trace_id)
        body = OrdersAccepted(
            trace_id=call.trace_id,
            topic=INTENTS,
            accepted=[
                AcceptedIntent(
                    intent_id=r.intent_id, account_id=r.account_id, partition=p, offset=o
                )
                for r, (p, o) in zip(records, written, strict=True)
            ],
        )
        return 202, body.model_dump_json().encode()

    return Prepared(limits=limits, work=publish)


def get_order(call: Call) -> Prepared:
    """``GET /v1/orders/{intent_id}``: current state and history."""
    intent_id = str(call.request.path_params.get("intent_id", ""))
    if not _ID.match(intent_id):
        return Prepared(
            error=ApiError(
                422,
                "validation_failed",
                "intent_id is malformed",
                details=[
                    {
                        "loc": ["path", "intent_id"],
                        "type": "string_pattern_mismatch",
                        "msg": "expected 1-64 characters of [A-Za-z0-9_.:-]",
                    }
                ],
            )
        )
    reader = call.runtime.reader
    assert reader is not None, "runtime not started"

    async def read() -> tuple[int, bytes]:
        state = await reader.get(intent_id)
        if state is None or not call.auth.may_use_account(state.account_id):
            return 404, ApiError(404, "not_found", f"no order {intent_id!r} is recorded").body()
        return 200, state.model_dump_json().encode()

    return Prepared(work=read)


def kill_switch(call: Call) -> Prepared:
    """``POST /v1/control/kill-switch``: a SET_TRADING_STATE command plus an audit event."""
    try:
        data = parse_json(call.body)
        try:
            request = KillSwitchRequest.model_validate(data)
        except ValidationError as exc:
            raise _invalid(exc) from exc
    except ApiError as err:
        return Prepared(error=err)
    key_id = call.auth.key.key_id

    async def publish() -> tuple[int, bytes]:
        command = ControlCommand(
            command_id=uuid.uuid4().hex,
            account_id=request.account_id,
            command=CommandKind.SET_TRADING_STATE,
            actor=key_id,
            trading_state=request.state,
            reason=request.reason,
            trace_id=call.trace_id,
        )
        await call.runtime.publisher.publish_command(command)
        event = AuditEvent(
            event_id=uuid.uuid4().hex,
            actor=key_id,
            action="kill_switch",
            outcome="ok",
            account_id=request.account_id,
            subject=command.command_id,
            trace_id=call.trace_id,
            details={"state": request.state.value, "reason": request.reason},
        )
        await call.runtime.publisher.publish_audit(event, wait=True)
        body = KillSwitchAccepted(
            command_id=command.command_id,
            account_id=request.account_id,
            state=request.state,
            trace_id=call.trace_id,
        )
        return 202, body.model_dump_json().encode()

    return Prepared(work=publish)
