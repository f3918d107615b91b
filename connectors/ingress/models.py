"""The HTTP contract: strict pydantic models that validate requests and shape responses.

The OpenAPI document (``connectors.ingress.openapi``) is generated from these same classes,
so the contract a client is generated from is the one the server enforces.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from schemas.records import (
    Duration,
    Exchange,
    OrderIntent,
    OrderStatus,
    OrderType,
    Product,
    Side,
    TradingState,
    Variety,
)

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

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
Ident = Annotated[StrictStr, Field(pattern=_ID, min_length=1, max_length=64)]
# Avro decimal(18, 4): at most 14 integer digits and 4 decimal places, never NaN/inf.
Price = Annotated[
    Decimal,
    Field(
        gt=0,
        max_digits=18,
        decimal_places=4,
        allow_inf_nan=False,
        description="decimal as a JSON string (exact) or number",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def _price_rules(name: str, types: tuple[str, ...]) -> dict[str, Any]:
    """JSON Schema if/then/else: ``name`` required for ``types``, refused for the others."""
    return {
        "if": {"properties": {"order_type": {"enum": list(types)}}, "required": ["order_type"]},
        "then": {"required": [name], "properties": {name: {"type": ["number", "string"]}}},
        "else": {"properties": {name: {"type": "null"}}},
    }


class OrderIntentIn(_Strict):
    """One order intent as a producer submits it; the server adds source, time and trace id."""

    # The cross-field rules of the validator below, stated in the schema too (OpenAPI 3.1).
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                _price_rules("price", (OrderType.LIMIT.value, OrderType.STOPLOSS_LIMIT.value)),
                _price_rules(
                    "trigger_price",
                    (OrderType.STOPLOSS_LIMIT.value, OrderType.STOPLOSS_MARKET.value),
                ),
            ]
        }
    )

    intent_id: Ident = Field(description="producer-chosen unique id; retries reuse it")
    account_id: Ident
    client_order_id: Ident
    instrument_token: Annotated[StrictStr, Field(pattern=r"^[0-9A-Za-z_-]{1,32}$")]
    exchange: Exchange
    side: Side
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000_000)]
    order_type: OrderType
    symbol: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    variety: Variety = Variety.NORMAL
    product: Product = Product.DELIVERY
    duration: Duration = Duration.DAY
    price: Price | None = None
    trigger_price: Price | None = None
    tag: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.:-]{1,32}$")] | None = None

    @model_validator(mode="after")
    def _prices_fit_order_type(self) -> OrderIntentIn:
        limit = self.order_type in (OrderType.LIMIT, OrderType.STOPLOSS_LIMIT)
        stop = self.order_type in (OrderType.STOPLOSS_LIMIT, OrderType.STOPLOSS_MARKET)
        if limit and self.price is None:
            raise ValueError(f"price is required for {self.order_type.value} orders")
        if not limit and self.price is not None:
            raise ValueError(f"price is not allowed for {self.order_type.value} orders")
        if stop and self.trigger_price is None:
            raise ValueError(f"trigger_price is required for {self.order_type.value} orders")
        if not stop and self.trigger_price is not None:
            raise ValueError(f"trigger_price is not allowed for {self.order_type.value} orders")
        return self

    def to_record(self, *, trace_id: str, created_at: datetime) -> OrderIntent:
        """The Avro record published on ``orders.intents.v1``."""
        return OrderIntent(
            intent_id=self.intent_id,
            account_id=self.account_id,
            client_order_id=self.client_order_id,
            instrument_token=self.instrument_token,
            exchange=self.exchange,
            side=self.side,
            quantity=self.quantity,
            order_type=self.order_type,
            symbol=self.symbol,
            variety=self.variety,
            product=self.product,
            duration=self.duration,
            price=self.price,
            trigger_price=self.trigger_price,
            tag=self.tag,
            source="api",
            created_at=created_at,
            trace_id=trace_id,
        )


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
    reason: Annotated[StrictStr, Field(min_length=1, max_length=256)]


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
