"""``round_to_tick``: the one rounding rule for prices, and the demo feed that relies on it."""

from __future__ import annotations

import itertools
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.reasons import ReasonCode
from agents.validation import is_on_tick, validate
from connectors.demo_feed import demo_intents
from connectors.instruments import InstrumentMaster
from schemas.prices import round_to_tick
from tests.factories import FIXED_NOW

# Tick sizes of the segments in the instrument master: ₹0.05, ₹0.10, ₹1, ₹0.0025, ₹5.
ticks = st.sampled_from([Decimal(t) for t in ("0.05", "0.10", "1", "0.0025", "5", "0.01")])
prices = st.decimals(min_value="0.0001", max_value="1000000", places=4)


@given(price=prices, tick=ticks)
def test_nearest_rounding_lands_on_the_tick_within_half_a_tick(
    price: Decimal, tick: Decimal
) -> None:
    rounded = round_to_tick(price, tick)

    assert is_on_tick(rounded, tick)
    assert abs(rounded - price) <= tick / 2


@given(price=prices, tick=ticks)
def test_rounding_a_price_already_on_the_tick_keeps_it(price: Decimal, tick: Decimal) -> None:
    on_tick = round_to_tick(price, tick)

    assert round_to_tick(on_tick, tick) == on_tick


@given(price=prices, tick=ticks)
def test_directed_rounding_stays_on_its_side_within_one_tick(price: Decimal, tick: Decimal) -> None:
    up = round_to_tick(price, tick, ROUND_CEILING)
    down = round_to_tick(price, tick, ROUND_FLOOR)

    assert is_on_tick(up, tick) and is_on_tick(down, tick)
    assert price <= up < price + tick
    assert price - tick < down <= price


def test_quantize_to_the_tick_would_keep_cents_but_rounding_does_not() -> None:
    price = Decimal("2900.07")

    assert not is_on_tick(price.quantize(Decimal("0.05")), Decimal("0.05"))
    assert round_to_tick(price, Decimal("0.05")) == Decimal("2900.05")


@pytest.mark.parametrize("tick", [Decimal(0), Decimal("-0.05")])
def test_refuses_a_tick_that_is_not_positive(tick: Decimal) -> None:
    with pytest.raises(ValueError, match="tick size must be positive"):
        round_to_tick(Decimal(100), tick)


@pytest.mark.parametrize("seed", [1, 7, 12345])
def test_demo_limit_prices_are_on_the_tick_of_the_sample_master(seed: int) -> None:
    master = InstrumentMaster.sample()
    intents = list(itertools.islice(demo_intents(seed, master=master), 600))
    limits = [i for i in intents if i.price is not None]

    reasons = {
        validate(
            i,
            master.find(i.exchange, i.instrument_token),
            today=FIXED_NOW.date(),
            seen_client_order_ids=(),
        )
        for i in limits
    }

    assert len(limits) > 200
    assert ReasonCode.PRICE_NOT_ON_TICK not in reasons
    assert reasons <= {None, ReasonCode.QTY_NOT_POSITIVE}
