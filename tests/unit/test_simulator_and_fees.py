"""The seeded tick simulator and the fee model."""

from __future__ import annotations

from decimal import Decimal
from itertools import islice

from hypothesis import given
from hypothesis import strategies as st

from connectors.fees import FeeModel
from connectors.instruments import InstrumentMaster
from connectors.simulator import ticks

MASTER = InstrumentMaster.sample()


def test_same_seed_gives_the_same_ticks() -> None:
    a = list(islice(ticks(MASTER, 7, 0, 1000), 200))
    b = list(islice(ticks(MASTER, 7, 0, 1000), 200))
    assert a == b


def test_different_seeds_give_different_walks() -> None:
    a = [t.last_price for t in islice(ticks(MASTER, 1, 0, 1000), 100)]
    b = [t.last_price for t in islice(ticks(MASTER, 2, 0, 1000), 100)]
    assert a != b


def test_ticks_are_round_robin_and_time_ordered() -> None:
    insts = list(MASTER)[:3]
    out = list(islice(ticks(insts, 1, 100, 10), 6))
    assert [t.instrument_token for t in out] == [i.token for i in insts] * 2
    assert [t.ts_event_ns for t in out] == [100, 110, 120, 130, 140, 150]


def test_start_prices_seed_the_walk() -> None:
    inst = MASTER.get("NSE", "2885")
    assert inst is not None
    first = next(ticks([inst], 1, 0, 1, start_prices={inst.key: Decimal("2450.00")}))
    assert abs(first.last_price - Decimal("2450.00")) <= 3 * inst.tick_size


def test_no_instruments_gives_no_ticks() -> None:
    assert list(ticks([], 1, 0, 1)) == []


@given(seed=st.integers(0, 2**32))
def test_property_prices_are_on_tick_and_quotes_bracket_last(seed: int) -> None:
    by_key = {i.key: i for i in MASTER}
    for t in islice(ticks(MASTER, seed, 0, 1000), 300):
        inst = by_key[f"{t.exchange}:{t.instrument_token}"]
        for price in (t.last_price, t.bid, t.ask):
            assert price is not None
            assert price > 0
            assert price % inst.tick_size == 0
        assert t.bid is not None
        assert t.ask is not None
        assert t.bid <= t.last_price < t.ask
        assert t.volume > 0
        assert t.volume % inst.lot_size == 0


def test_fee_is_bps_of_notional_rounded_to_the_paisa() -> None:
    assert FeeModel(bps=Decimal("3")).fee(Decimal("24500"), first_fill=False) == Decimal("7.35")


def test_fee_minimum_applies_per_fill_and_fixed_part_once_per_order() -> None:
    model = FeeModel(bps=Decimal("1"), fixed_per_order=Decimal("20"), minimum=Decimal("5"))
    assert model.fee(Decimal("100"), first_fill=True) == Decimal("25.00")
    assert model.fee(Decimal("100"), first_fill=False) == Decimal("5.00")


def test_free_fee_model_charges_nothing() -> None:
    assert FeeModel.free().fee(Decimal("1e9"), first_fill=True) == 0


def test_fee_model_round_trips_through_a_dict() -> None:
    model = FeeModel(bps=Decimal("2.5"), fixed_per_order=Decimal("10"), minimum=Decimal("1"))
    assert FeeModel.from_dict(model.to_dict()) == model


@given(notional=st.decimals(0, 10**9, places=2), split=st.integers(2, 10))
def test_property_splitting_an_order_into_more_fills_never_lowers_total_fee(
    notional: Decimal, split: int
) -> None:
    model = FeeModel(bps=Decimal("3"), fixed_per_order=Decimal("20"), minimum=Decimal("2"))
    whole = model.fee(notional, first_fill=True)
    parts = [notional / split] * split
    total = sum(model.fee(p, first_fill=i == 0) for i, p in enumerate(parts))
    assert total >= whole - Decimal("0.01") * split  # each part rounds by at most half a paisa
