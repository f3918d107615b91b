"""Intent validation: the rule table, its order, and properties over generated intents."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.reasons import ReasonCode
from agents.validation import CHECK_ORDER, PRODUCTS_BY_EXCHANGE, enrich, is_on_tick, validate
from connectors.instruments import Instrument, InstrumentMaster
from schemas.records import Duration, Exchange, OrderIntent, OrderType, Product, Side, Variety
from tests.factories import make_instrument, make_intent

MASTER = InstrumentMaster.sample()
TODAY = date(2026, 11, 21)


def check(
    intent: OrderIntent, inst: Instrument | None = None, seen: frozenset[str] = frozenset()
) -> ReasonCode | None:
    if inst is None:
        inst = MASTER.find(intent.exchange, intent.instrument_token)
    return validate(intent, inst, today=TODAY, seen_client_order_ids=seen)


def test_accepts_plain_limit_buy_of_an_nse_equity() -> None:
    assert check(make_intent()) is None


def test_accepts_market_order_without_price() -> None:
    assert check(make_intent(order_type=OrderType.MARKET, price=None)) is None


def test_accepts_zero_price_on_market_order_as_absent() -> None:
    assert check(make_intent(order_type=OrderType.MARKET, price=Decimal(0))) is None


def test_accepts_derivative_on_its_expiry_day() -> None:
    inst = make_instrument(exchange=Exchange.NFO, expiry=TODAY, lot_size=75, is_derivative=True)
    intent = make_intent(exchange=Exchange.NFO, quantity=75, product=Product.CARRYFORWARD)
    assert check(intent, inst) is None


def test_rejects_derivative_a_day_after_expiry() -> None:
    inst = make_instrument(exchange=Exchange.NFO, expiry=TODAY - timedelta(days=1), lot_size=75)
    intent = make_intent(exchange=Exchange.NFO, quantity=75, product=Product.CARRYFORWARD)
    assert check(intent, inst) is ReasonCode.DERIVATIVE_EXPIRED


def test_rejects_unknown_instrument_when_lookup_found_nothing() -> None:
    assert check(make_intent(instrument_token="1"), None) is ReasonCode.UNKNOWN_INSTRUMENT


def test_rejects_token_that_exists_only_on_another_segment_as_exchange_mismatch() -> None:
    intent = make_intent(exchange=Exchange.NFO, product=Product.INTRADAY)
    assert MASTER.get("NFO", "2885") is None
    assert check(intent) is ReasonCode.EXCHANGE_MISMATCH


def test_rejects_negative_quantity_as_not_positive() -> None:
    assert check(make_intent(quantity=-10)) is ReasonCode.QTY_NOT_POSITIVE


def test_accepts_future_quantity_in_whole_lots() -> None:
    intent = make_intent(
        exchange=Exchange.NFO,
        instrument_token="35001",
        quantity=150,
        product=Product.CARRYFORWARD,
        price=Decimal("24000.10"),
    )
    assert check(intent) is None


def test_rejects_future_price_off_its_ten_paise_tick() -> None:
    intent = make_intent(
        exchange=Exchange.NFO,
        instrument_token="35001",
        quantity=75,
        product=Product.CARRYFORWARD,
        price=Decimal("24000.05"),
    )
    assert check(intent) is ReasonCode.PRICE_NOT_ON_TICK


def test_accepts_cds_price_on_quarter_paisa_tick() -> None:
    intent = make_intent(
        exchange=Exchange.CDS,
        instrument_token="1165",
        quantity=1,
        product=Product.CARRYFORWARD,
        price=Decimal("84.1225"),
    )
    assert check(intent) is None


@pytest.mark.parametrize(
    ("side", "trigger", "price", "expected"),
    [
        (Side.BUY, "2440.00", "2450.00", None),
        (Side.BUY, "2450.00", "2450.00", None),
        (Side.BUY, "2460.00", "2450.00", ReasonCode.TRIGGER_WRONG_SIDE),
        (Side.SELL, "2460.00", "2450.00", None),
        (Side.SELL, "2440.00", "2450.00", ReasonCode.TRIGGER_WRONG_SIDE),
    ],
)
def test_stop_limit_trigger_side_rule(
    side: Side, trigger: str, price: str, expected: ReasonCode | None
) -> None:
    intent = make_intent(
        side=side,
        order_type=OrderType.STOPLOSS_LIMIT,
        variety=Variety.STOPLOSS,
        price=Decimal(price),
        trigger_price=Decimal(trigger),
    )
    assert check(intent) is expected


def test_accepts_stop_market_with_trigger_only() -> None:
    intent = make_intent(
        order_type=OrderType.STOPLOSS_MARKET,
        variety=Variety.STOPLOSS,
        price=None,
        trigger_price=Decimal("2400.00"),
    )
    assert check(intent) is None


def test_rejects_stop_market_with_a_price() -> None:
    intent = make_intent(
        order_type=OrderType.STOPLOSS_MARKET,
        variety=Variety.STOPLOSS,
        trigger_price=Decimal("2400.00"),
    )
    assert check(intent) is ReasonCode.MARKET_HAS_PRICE


def test_rejects_stop_order_type_under_normal_variety() -> None:
    intent = make_intent(
        order_type=OrderType.STOPLOSS_MARKET, price=None, trigger_price=Decimal("2400.00")
    )
    assert check(intent) is ReasonCode.VARIETY_NOT_ALLOWED


@pytest.mark.parametrize(
    ("exchange", "token", "qty", "product", "expected"),
    [
        (Exchange.NSE, "2885", 1, Product.DELIVERY, None),
        (Exchange.NSE, "2885", 1, Product.MARGIN, None),
        (Exchange.NSE, "2885", 1, Product.CARRYFORWARD, ReasonCode.PRODUCT_NOT_ALLOWED),
        (Exchange.BSE, "500325", 1, Product.INTRADAY, None),
        (Exchange.BSE, "500325", 1, Product.CO, ReasonCode.PRODUCT_NOT_ALLOWED),
        (Exchange.NFO, "35001", 75, Product.DELIVERY, ReasonCode.PRODUCT_NOT_ALLOWED),
        (Exchange.NFO, "35001", 75, Product.MARGIN, ReasonCode.PRODUCT_NOT_ALLOWED),
        (Exchange.NFO, "35001", 75, Product.CO, None),
        (Exchange.BFO, "1128504", 20, Product.CARRYFORWARD, None),
        (Exchange.MCX, "440939", 1, Product.DELIVERY, ReasonCode.PRODUCT_NOT_ALLOWED),
        (Exchange.MCX, "440939", 1, Product.INTRADAY, None),
        (Exchange.CDS, "1165", 1, Product.CARRYFORWARD, None),
    ],
)
def test_product_table_per_segment(
    exchange: Exchange, token: str, qty: int, product: Product, expected: ReasonCode | None
) -> None:
    intent = make_intent(
        exchange=exchange,
        instrument_token=token,
        quantity=qty,
        product=product,
        price=Decimal("100"),
    )
    assert check(intent) is expected


def test_accepts_robo_bracket_limit_order_on_nse() -> None:
    assert check(make_intent(variety=Variety.ROBO, product=Product.BO)) is None


def test_rejects_robo_market_order_as_variety_not_allowed() -> None:
    intent = make_intent(
        variety=Variety.ROBO, product=Product.BO, order_type=OrderType.MARKET, price=None
    )
    assert check(intent) is ReasonCode.VARIETY_NOT_ALLOWED


def test_rejects_bo_product_outside_robo_variety() -> None:
    assert check(make_intent(product=Product.BO)) is ReasonCode.PRODUCT_NOT_ALLOWED


def test_rejects_robo_with_non_bo_product() -> None:
    assert check(make_intent(variety=Variety.ROBO)) is ReasonCode.VARIETY_NOT_ALLOWED


def test_rejects_amo_with_ioc_duration() -> None:
    intent = make_intent(variety=Variety.AMO, duration=Duration.IOC)
    assert check(intent) is ReasonCode.VARIETY_NOT_ALLOWED


def test_accepts_amo_delivery_day_order() -> None:
    assert check(make_intent(variety=Variety.AMO)) is None


def test_rejects_duplicate_client_order_id_of_the_account() -> None:
    assert check(make_intent(client_order_id="c1"), seen=frozenset({"c1"})) is (
        ReasonCode.DUPLICATE_CLIENT_ORDER_ID
    )


def test_structural_error_wins_over_duplicate_client_order_id() -> None:
    intent = make_intent(client_order_id="c1", quantity=0)
    assert check(intent, seen=frozenset({"c1"})) is ReasonCode.QTY_NOT_POSITIVE


def test_enrich_fills_lot_tick_symbol_and_stage() -> None:
    inst = MASTER.get("NSE", "2885")
    assert inst is not None
    out = enrich(make_intent(symbol=None), inst)
    assert (out.lot_size, out.tick_size, out.symbol, out.stage) == (
        1,
        Decimal("0.05"),
        "RELIANCE-EQ",
        "validated",
    )


def test_enrich_leaves_the_input_intent_unchanged() -> None:
    inst = MASTER.get("NSE", "2885")
    assert inst is not None
    intent = make_intent()
    enrich(intent, inst)
    assert intent.stage == "intent"
    assert intent.lot_size is None


def test_every_exchange_has_a_product_table_entry() -> None:
    assert set(PRODUCTS_BY_EXCHANGE) == set(Exchange)


# -- properties ------------------------------------------------------------------------------

tradable = [i for i in MASTER if i.expiry is None or i.expiry >= TODAY]
instruments = st.sampled_from(tradable)


def _product(inst: Instrument) -> Product:
    return Product.CARRYFORWARD if inst.is_derivative else Product.DELIVERY


@given(
    inst=instruments,
    lots=st.integers(1, 1000),
    ticks=st.integers(1, 10**7),
    side=st.sampled_from(Side),
)
def test_property_well_formed_limit_orders_always_pass(
    inst: Instrument, lots: int, ticks: int, side: Side
) -> None:
    intent = make_intent(
        exchange=inst.exchange,
        instrument_token=inst.token,
        side=side,
        quantity=lots * inst.lot_size,
        price=ticks * inst.tick_size,
        product=_product(inst),
    )
    assert check(intent, inst) is None


@given(
    inst=instruments.filter(lambda i: i.lot_size > 1),
    lots=st.integers(0, 100),
    extra=st.integers(1, 74),
)
def test_property_quantity_off_the_lot_is_rejected(inst: Instrument, lots: int, extra: int) -> None:
    qty = lots * inst.lot_size + extra % inst.lot_size
    if qty % inst.lot_size == 0:
        qty += 1
    intent = make_intent(
        exchange=inst.exchange,
        instrument_token=inst.token,
        quantity=qty,
        price=inst.tick_size,
        product=_product(inst),
    )
    assert check(intent, inst) is ReasonCode.QTY_NOT_LOT_MULTIPLE


@given(inst=instruments, ticks=st.integers(1, 10**6), frac=st.integers(1, 99))
def test_property_price_between_ticks_is_rejected(inst: Instrument, ticks: int, frac: int) -> None:
    price = (ticks + Decimal(frac) / 100) * inst.tick_size
    intent = make_intent(
        exchange=inst.exchange,
        instrument_token=inst.token,
        quantity=inst.lot_size,
        price=price,
        product=_product(inst),
    )
    assert not is_on_tick(price, inst.tick_size)
    assert check(intent, inst) is ReasonCode.PRICE_NOT_ON_TICK


@given(
    inst=st.sampled_from(list(MASTER)),
    qty=st.integers(-10, 10**6),
    otype=st.sampled_from(OrderType),
    variety=st.sampled_from(Variety),
    product=st.sampled_from(Product),
    duration=st.sampled_from(Duration),
    price=st.none() | st.decimals(-10, 10**6, places=4),
    trigger=st.none() | st.decimals(-10, 10**6, places=4),
)
def test_property_validate_never_raises_and_returns_a_listed_code(
    inst: Instrument,
    qty: int,
    otype: OrderType,
    variety: Variety,
    product: Product,
    duration: Duration,
    price: Decimal | None,
    trigger: Decimal | None,
) -> None:
    intent = make_intent(
        exchange=inst.exchange,
        instrument_token=inst.token,
        quantity=qty,
        order_type=otype,
        variety=variety,
        product=product,
        duration=duration,
        price=price,
        trigger_price=trigger,
    )
    result = check(intent, inst)
    assert result is None or result in CHECK_ORDER


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_rejects_non_finite_price_without_raising(bad: str) -> None:
    assert check(make_intent(price=Decimal(bad))) is ReasonCode.PRICE_NOT_POSITIVE


@pytest.mark.parametrize("bad", ["NaN", "Infinity"])
def test_rejects_non_finite_trigger_without_raising(bad: str) -> None:
    intent = make_intent(
        order_type=OrderType.STOPLOSS_LIMIT, variety=Variety.STOPLOSS, trigger_price=Decimal(bad)
    )
    assert check(intent) is ReasonCode.TRIGGER_NOT_POSITIVE
