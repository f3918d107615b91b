"""Pure validation of order intents: no I/O, no clock reads.

``validate`` returns the first failing ``ReasonCode`` or None; the checks run in the order
of ``CHECK_ORDER`` (cheap structural checks first, the duplicate lookup last). The caller
looks the instrument up (``InstrumentMaster.find``) and passes the trading day and the set of
``client_order_id`` values the account already used.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from datetime import date
from decimal import Decimal

from agents.reasons import ReasonCode
from connectors.instruments import Instrument
from schemas.records import Duration, Exchange, OrderIntent, OrderType, Product, Side, Variety
from streams.contract import intent_problem

__all__ = [
    "CHECK_ORDER",
    "PRODUCTS_BY_EXCHANGE",
    "ROBO_EXCHANGES",
    "enrich",
    "is_on_tick",
    "malformed_field",
    "validate",
]

# Which products each segment takes (Angel One's product vocabulary):
#   DELIVERY = CNC (cash only), MARGIN = margin delivery / MTF (cash only),
#   CARRYFORWARD = NRML (derivatives only), INTRADAY = MIS (everywhere),
#   BO = bracket order (ROBO variety only), CO = cover order (NSE and NFO only).
_CASH = frozenset({Product.DELIVERY, Product.INTRADAY, Product.MARGIN})
PRODUCTS_BY_EXCHANGE: Mapping[str, frozenset[Product]] = {
    Exchange.NSE: _CASH | {Product.BO, Product.CO},
    Exchange.BSE: _CASH,
    Exchange.NFO: frozenset({Product.INTRADAY, Product.CARRYFORWARD, Product.BO, Product.CO}),
    Exchange.BFO: frozenset({Product.INTRADAY, Product.CARRYFORWARD}),
    Exchange.MCX: frozenset({Product.INTRADAY, Product.CARRYFORWARD}),
    Exchange.CDS: frozenset({Product.INTRADAY, Product.CARRYFORWARD}),
}
ROBO_EXCHANGES = frozenset({Exchange.NSE, Exchange.NFO})

CHECK_ORDER: tuple[ReasonCode, ...] = (
    ReasonCode.MALFORMED_FIELD,
    ReasonCode.UNKNOWN_EXCHANGE,
    ReasonCode.UNKNOWN_INSTRUMENT,
    ReasonCode.EXCHANGE_MISMATCH,
    ReasonCode.SYMBOL_MISMATCH,
    ReasonCode.DERIVATIVE_EXPIRED,
    ReasonCode.QTY_NOT_POSITIVE,
    ReasonCode.QTY_NOT_LOT_MULTIPLE,
    ReasonCode.LIMIT_NEEDS_PRICE,
    ReasonCode.MARKET_HAS_PRICE,
    ReasonCode.STOP_NEEDS_TRIGGER,
    ReasonCode.TRIGGER_NOT_ALLOWED,
    ReasonCode.PRICE_NOT_POSITIVE,
    ReasonCode.PRICE_NOT_ON_TICK,
    ReasonCode.TRIGGER_NOT_POSITIVE,
    ReasonCode.TRIGGER_NOT_ON_TICK,
    ReasonCode.TRIGGER_WRONG_SIDE,
    ReasonCode.PRODUCT_NOT_ALLOWED,
    ReasonCode.VARIETY_NOT_ALLOWED,
    ReasonCode.DUPLICATE_CLIENT_ORDER_ID,
)

_EXCHANGE_NAMES = frozenset(e.value for e in Exchange)
_PRICED = frozenset({OrderType.LIMIT, OrderType.STOPLOSS_LIMIT})
_STOPS = frozenset({OrderType.STOPLOSS_LIMIT, OrderType.STOPLOSS_MARKET})
_ZERO = Decimal(0)


def is_on_tick(price: Decimal, tick: Decimal) -> bool:
    """True when ``price`` is a whole multiple of ``tick``."""
    return not price % tick


def validate(
    intent: OrderIntent,
    instrument: Instrument | None,
    *,
    today: date,
    seen_client_order_ids: Container[str],
) -> ReasonCode | None:
    """The first rule ``intent`` breaks, or None when it may proceed to risk.

    ``today`` is the trading day (derivatives expiring today still trade);
    ``seen_client_order_ids`` holds the ids of this account's earlier *validated* intents.
    A price or trigger of 0 counts as absent, as Angel One's API sends ``"0"`` for none.
    ``MALFORMED_FIELD`` comes first: the record reached the topic without passing the input
    model (produced raw), and breaks its string or number rules (``malformed_field`` says
    which field and why).
    """
    if intent_problem(intent) is not None:
        return ReasonCode.MALFORMED_FIELD
    if intent.exchange not in _EXCHANGE_NAMES:
        return ReasonCode.UNKNOWN_EXCHANGE
    if instrument is None:
        return ReasonCode.UNKNOWN_INSTRUMENT
    if instrument.exchange != intent.exchange or instrument.token != intent.instrument_token:
        return ReasonCode.EXCHANGE_MISMATCH
    if intent.symbol and intent.symbol != instrument.symbol:
        return ReasonCode.SYMBOL_MISMATCH
    if instrument.expiry is not None and instrument.expiry < today:
        return ReasonCode.DERIVATIVE_EXPIRED
    qty = intent.quantity
    if qty <= 0:
        return ReasonCode.QTY_NOT_POSITIVE
    if qty % instrument.lot_size:
        return ReasonCode.QTY_NOT_LOT_MULTIPLE
    code = _price_rules(intent, instrument.tick_size)
    if code is not None:
        return code
    code = _segment_rules(intent)
    if code is not None:
        return code
    if intent.client_order_id in seen_client_order_ids:
        return ReasonCode.DUPLICATE_CLIENT_ORDER_ID
    return None


def _price_rules(intent: OrderIntent, tick: Decimal) -> ReasonCode | None:
    otype = intent.order_type
    # 0 means "none" (Angel One sends "0"); a zero Decimal is falsy.
    price = intent.price if intent.price else None
    trigger = intent.trigger_price if intent.trigger_price else None
    if otype in _PRICED:
        if price is None:
            return ReasonCode.LIMIT_NEEDS_PRICE
    elif price is not None:
        return ReasonCode.MARKET_HAS_PRICE
    if otype in _STOPS:
        if trigger is None:
            return ReasonCode.STOP_NEEDS_TRIGGER
    elif trigger is not None:
        return ReasonCode.TRIGGER_NOT_ALLOWED
    if price is not None:
        # NaN/Infinity cannot come through Avro, but can through JSON producers
        if not price.is_finite() or price < _ZERO:
            return ReasonCode.PRICE_NOT_POSITIVE
        if price % tick:
            return ReasonCode.PRICE_NOT_ON_TICK
    if trigger is not None:
        if not trigger.is_finite() or trigger < _ZERO:
            return ReasonCode.TRIGGER_NOT_POSITIVE
        if trigger % tick:
            return ReasonCode.TRIGGER_NOT_ON_TICK
    if price is not None and trigger is not None:
        # A BUY stop fires as the market rises through the trigger and then works at the
        # limit, so the limit must sit at or above the trigger; a SELL stop mirrors that.
        if intent.side is Side.BUY:
            if trigger > price:
                return ReasonCode.TRIGGER_WRONG_SIDE
        elif trigger < price:
            return ReasonCode.TRIGGER_WRONG_SIDE
    return None


def _segment_rules(intent: OrderIntent) -> ReasonCode | None:
    product = intent.product
    variety = intent.variety
    if product not in PRODUCTS_BY_EXCHANGE[intent.exchange]:
        return ReasonCode.PRODUCT_NOT_ALLOWED
    if product is Product.BO and variety is not Variety.ROBO:
        return ReasonCode.PRODUCT_NOT_ALLOWED
    if variety is Variety.ROBO:
        # Angel One takes ROBO (bracket) orders only as LIMIT orders with product BO.
        if product is not Product.BO or intent.order_type is not OrderType.LIMIT:
            return ReasonCode.VARIETY_NOT_ALLOWED
        if intent.exchange not in ROBO_EXCHANGES:
            return ReasonCode.VARIETY_NOT_ALLOWED
    elif variety is Variety.STOPLOSS:
        if intent.order_type not in _STOPS:
            return ReasonCode.VARIETY_NOT_ALLOWED
    elif intent.order_type in _STOPS:
        # Angel One places stop-loss order types only under the STOPLOSS variety.
        return ReasonCode.VARIETY_NOT_ALLOWED
    if variety is Variety.AMO and (
        intent.duration is Duration.IOC or product in (Product.BO, Product.CO)
    ):
        return ReasonCode.VARIETY_NOT_ALLOWED
    if product is Product.CO and variety is not Variety.NORMAL:
        return ReasonCode.VARIETY_NOT_ALLOWED
    return None


def malformed_field(intent: OrderIntent) -> str | None:
    """``"<field>: <why>"`` for a ``MALFORMED_FIELD`` rejection's reason, or None."""
    problem = intent_problem(intent)
    return None if problem is None else f"{problem[0]}: {problem[1]}"


def enrich(intent: OrderIntent, instrument: Instrument) -> OrderIntent:
    """A copy of a valid intent with lot size, tick size and symbol filled, stage 'validated'."""
    return intent.replace(
        lot_size=instrument.lot_size,
        tick_size=instrument.tick_size,
        symbol=intent.symbol or instrument.symbol,
        stage="validated",
    )
