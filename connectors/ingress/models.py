"""The HTTP contract: strict pydantic models that validate requests and shape responses.

An order intent is ``streams.intents.OrderIntentIn``, the one input model that ``tradepipe
send`` uses too; the string and number rules are ``streams.contract``'s.

The OpenAPI document (``connectors.ingress.openapi``) is generated from these same classes,
so the contract a client is generated from is the one the server enforces.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from schemas.records import OrderStatus, Side, TradingState
from streams.intents import FreeText, OrderIntentIn

__all__ = [
    "AcceptedIntent",
    "ErrorBody",
    "ErrorDetail",
    "ErrorInfo",
    "Health",
    "KillSwitchAccepted",
    "KillSwitchRequest",
    "OrderBatchIn",
    "OrderEventOut",
    "OrderIntentIn",
    "OrderStateOut",
    "OrdersAccepted",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class OrderBatchIn(_Strict):
    """Several intents in one request; accepted only when every one is on the topic."""

    # The upper bound is the max_batch setting (answered 413 before validation; maxItems
    # in /openapi.json), not a constant here.
    orders: Annotated[list[OrderIntentIn], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_intent_ids(self) -> OrderBatchIn:
        ids = [o.intent_id for o in self.orders]
        if len(set(ids)) != len(ids):
            raise ValueError("intent_id values must be unique within a batch")
        return self


class AcceptedIntent(BaseModel):
    """Where an accepted intent was written."""

    intent_id: str
    account_id: str
    partition: int
    offset: int


class OrdersAccepted(BaseModel):
    """202: every intent is on ``orders.intents.v1`` and acknowledged by the broker."""

    status: Literal["accepted"] = "accepted"
    trace_id: str
    topic: str
    accepted: list[AcceptedIntent]


class OrderEventOut(BaseModel):
    """One lifecycle transition of an order."""

    seq: int
    status: OrderStatus
    filled_quantity: int = 0
    reason_code: str | None = None
    reason: str | None = None
    created_at: datetime


class OrderStateOut(BaseModel):
    """An order's current state and its history, as the sink recorded them."""

    intent_id: str
    account_id: str
    client_order_id: str
    instrument_token: str
    side: Side
    status: OrderStatus
    quantity: int
    filled_quantity: int
    leaves_quantity: int
    price: str | None = None
    avg_fill_price: str | None = None
    broker_order_id: str | None = None
    updated_at: datetime
    history: list[OrderEventOut]


class KillSwitchRequest(_Strict):
    """Set the trading state of one account, or of all (``*``)."""

    account_id: Annotated[StrictStr, Field(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_.:-]{0,63})$")]
    state: TradingState = TradingState.HALTED
    reason: FreeText


class KillSwitchAccepted(BaseModel):
    """202: the control command is on ``control.commands.v1``."""

    status: Literal["accepted"] = "accepted"
    command_id: str
    account_id: str
    state: TradingState
    trace_id: str


class ErrorDetail(BaseModel):
    """One thing wrong with a request: where, what kind, and why."""

    loc: list[str | int] = Field(default_factory=list)
    type: str
    msg: str


class ErrorInfo(BaseModel):
    """A machine-readable error code, a human message and the details."""

    code: str
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Every non-2xx response has this body."""

    error: ErrorInfo


class Health(BaseModel):
    """Liveness or readiness, with one entry per dependency checked."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, Any] = Field(default_factory=dict)
