"""The one input model of an order intent, for every door: ``POST /v1/orders``, ``tradepipe
send`` and its JSON files. The rules themselves live in ``streams.contract``.

Structure and contract only: types, patterns, length bounds, enum values, ASCII decimal
forms, which prices an order type takes. Business rules (lot size, tick size, limits) belong
to the agents, which reject with reason codes. Where the CLI and the HTTP models used to
differ, the stricter rule won (``docs/order-pipeline.md``, "The intent contract"): ids start
with a letter or digit, quantities are 1 to 10,000,000, tags match ``TAG``, prices are
positive ASCII decimals, surrounding spaces are refused rather than stripped, and a MARKET
order with a price is refused at the door. The CLI alone generates ``intent_id`` and
``client_order_id`` when they are left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

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
from streams import contract
from streams.errors import InvalidInput

__all__ = [
    "FreeText",
    "Ident",
    "OrderIntentIn",
    "Price",
    "Quantity",
    "describe_validation_error",
    "parse_intents",
]


def _matching(rule: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        problem = contract.pattern_problem(value, rule)
        if problem is not None:
            raise ValueError(problem)
        return value

    return check


def _free_text(value: str) -> str:
    problem = contract.text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _price_form(value: Any) -> Any:
    """The contract's ASCII form; the range is left to pydantic's decimal constraints below,
    which name it (``decimal_max_places``, ``finite_number``, ``greater_than``...)."""
    if value is None or isinstance(value, Decimal):
        return value
    try:
        text = contract.price_text(value)
    except contract.ContractViolation as exc:
        raise ValueError(str(exc)) from exc
    problem = contract.price_form_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


Ident = Annotated[
    StrictStr,
    Field(pattern=contract.IDENT, min_length=1, max_length=64),
    AfterValidator(_matching("IDENT")),
]
Token = Annotated[
    StrictStr,
    Field(pattern=contract.TOKEN, min_length=1, max_length=32),
    AfterValidator(_matching("TOKEN")),
]
Symbol = Annotated[
    StrictStr,
    Field(pattern=contract.SYMBOL, min_length=1, max_length=64),
    AfterValidator(_matching("SYMBOL")),
]
Tag = Annotated[
    StrictStr,
    Field(pattern=contract.TAG, min_length=1, max_length=32),
    AfterValidator(_matching("TAG")),
]
FreeText = Annotated[
    StrictStr,
    Field(min_length=1, max_length=contract.MAX_FREE_TEXT),
    AfterValidator(_free_text),
]
"""Printable text: no control, format (bidi) or separator characters (``streams.contract``)."""
Quantity = Annotated[StrictInt, Field(ge=1, le=contract.MAX_QUANTITY)]
"""A JSON integer (a string, float or boolean is refused); the CLI parses ``--qty`` with
``contract.parse_quantity`` first."""
# Avro decimal(18, 4). The schema (the OpenAPI document clients are generated from) is stated,
# not derived: pydantic writes its decimal constraints under names JSON Schema does not know.
Price = Annotated[
    Decimal,
    BeforeValidator(_price_form),
    Field(
        gt=0,
        max_digits=contract.MAX_PRICE_DIGITS,
        decimal_places=contract.PRICE_SCALE,
        allow_inf_nan=False,
    ),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": contract.PRICE_SCHEMA_PATTERN},
                {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "exclusiveMaximum": 10**14,
                    "multipleOf": 0.0001,
                },
            ],
            "description": "ASCII decimal > 0, at most 14 integer and 4 decimal digits, as a "
            'JSON string (exact, e.g. "2450.05") or number; no sign, exponent, spaces or '
            "separators",
        }
    ),
]


def _price_rules(name: str, types: tuple[str, ...]) -> dict[str, Any]:
    """JSON Schema if/then/else: ``name`` required for ``types``, refused for the others."""
    return {
        "if": {"properties": {"order_type": {"enum": list(types)}}, "required": ["order_type"]},
        "then": {"required": [name], "properties": {name: {"type": ["number", "string"]}}},
        "else": {"properties": {name: {"type": "null"}}},
    }


_PRICED = (OrderType.LIMIT, OrderType.STOPLOSS_LIMIT)
_STOPS = (OrderType.STOPLOSS_LIMIT, OrderType.STOPLOSS_MARKET)


class OrderIntentIn(BaseModel):
    """One order intent as a producer submits it; the door adds source, time and trace id."""

    # The cross-field rules of the validator below, stated in the schema too (OpenAPI 3.1).
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra={
            "allOf": [
                _price_rules("price", tuple(t.value for t in _PRICED)),
                _price_rules("trigger_price", tuple(t.value for t in _STOPS)),
            ]
        },
    )

    intent_id: Ident = Field(description="producer-chosen unique id; retries reuse it")
    account_id: Ident
    client_order_id: Ident
    instrument_token: Token
    exchange: Exchange
    side: Side
    quantity: Quantity
    order_type: OrderType
    symbol: Symbol | None = None
    variety: Variety = Variety.NORMAL
    product: Product = Product.DELIVERY
    duration: Duration = Duration.DAY
    price: Price | None = None
    trigger_price: Price | None = None
    tag: Tag | None = None

    @model_validator(mode="after")
    def _prices_fit_order_type(self) -> OrderIntentIn:
        limit = self.order_type in _PRICED
        stop = self.order_type in _STOPS
        if limit and self.price is None:
            raise ValueError(f"price is required for {self.order_type.value} orders")
        if not limit and self.price is not None:
            raise ValueError(f"price is not allowed for {self.order_type.value} orders")
        if stop and self.trigger_price is None:
            raise ValueError(f"trigger_price is required for {self.order_type.value} orders")
        if not stop and self.trigger_price is not None:
            raise ValueError(f"trigger_price is not allowed for {self.order_type.value} orders")
        return self

    def to_record(
        self,
        *,
        source: str = "api",
        trace_id: str | None = None,
        created_at: datetime | None = None,
    ) -> OrderIntent:
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
            price=_scaled(self.price),
            trigger_price=_scaled(self.trigger_price),
            tag=self.tag,
            source=source,
            created_at=created_at or utcnow(),
            trace_id=trace_id or uuid.uuid4().hex,
        )


def _scaled(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.0001"))


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming every field that is wrong and why."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _with_ids(item: object) -> object:
    """The CLI's convenience: a generated ``intent_id`` / ``client_order_id`` when absent."""
    if not isinstance(item, dict):
        return item
    filled = dict(item)
    if filled.get("intent_id") is None:
        filled["intent_id"] = str(uuid.uuid4())
    if filled.get("client_order_id") is None:
        filled["client_order_id"] = f"c-{str(filled['intent_id'])[:18]}"
    return filled


def parse_intents(payload: object, *, generate_ids: bool = True) -> list[OrderIntentIn]:
    """One intent or a list of them; ``InvalidInput`` with a one-line reason otherwise."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise InvalidInput("no intents given")
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append(OrderIntentIn.model_validate(_with_ids(item) if generate_ids else item))
        except ValidationError as exc:
            prefix = f"intent {index}: " if len(items) > 1 else ""
            raise InvalidInput(prefix + describe_validation_error(exc)) from exc
    return parsed
