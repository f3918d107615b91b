"""The strict input model of an order intent, as producers write it (CLI and JSON files).

Structure only: types, required fields, enum values, decimal scale. Business rules (lot
size, tick size, limits) belong to the agents, which reject with reason codes.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.records import (
    Duration,
    Exchange,
    OrderIntent,
    OrderType,
    Product,
    Side,
    Variety,
    utcnow,
)
from streams.errors import InvalidInput

__all__ = ["IntentIn", "describe_validation_error", "parse_intents"]

_ID = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
_MAX_SCALE = 4  # the Avro decimal scale of prices


class IntentIn(BaseModel):
    """An order intent as submitted; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    intent_id: _ID | None = Field(
        default=None, description="idempotency key; generated when absent"
    )
    account_id: _ID
    client_order_id: _ID | None = Field(default=None, description="generated when absent")
    instrument_token: Annotated[
        str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$")
    ]
    symbol: Annotated[str, Field(max_length=64)] | None = None
    exchange: Exchange
    side: Side
    quantity: Annotated[int, Field(ge=-(2**53), le=2**53)]
    order_type: OrderType
    variety: Variety = Variety.NORMAL
    product: Product = Product.DELIVERY
    duration: Duration = Duration.DAY
    price: Decimal | None = Field(default=None, max_digits=14, decimal_places=_MAX_SCALE)
    trigger_price: Decimal | None = Field(default=None, max_digits=14, decimal_places=_MAX_SCALE)
    tag: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("price", "trigger_price")
    @classmethod
    def _finite(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not value.is_finite():
            raise ValueError("must be a finite number")
        return value

    def to_record(self, *, source: str, trace_id: str | None = None) -> OrderIntent:
        """The Avro record, with generated ids where the producer left them out."""
        intent_id = self.intent_id or str(uuid.uuid4())
        return OrderIntent(
            intent_id=intent_id,
            account_id=self.account_id,
            client_order_id=self.client_order_id or f"c-{intent_id[:18]}",
            instrument_token=self.instrument_token,
            symbol=self.symbol,
            exchange=self.exchange,
            side=self.side,
            quantity=self.quantity,
            order_type=self.order_type,
            variety=self.variety,
            product=self.product,
            duration=self.duration,
            price=_scaled(self.price),
            trigger_price=_scaled(self.trigger_price),
            tag=self.tag,
            source=source,
            created_at=utcnow(),
            trace_id=trace_id or uuid.uuid4().hex,
        )


def _scaled(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal(1).scaleb(-_MAX_SCALE))


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming every field that is wrong and why."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_intents(payload: object) -> list[IntentIn]:
    """One intent or a list of them; ``InvalidInput`` with a one-line reason otherwise."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise InvalidInput("no intents given")
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append(IntentIn.model_validate(item))
        except ValidationError as exc:
            prefix = f"intent {index}: " if len(items) > 1 else ""
            raise InvalidInput(prefix + describe_validation_error(exc)) from exc
    return parsed
