"""Property tests for risk arithmetic: limits hold whatever sequence of orders arrives."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.risk import AccountRisk, RiskLimits, check_order, on_approved, on_fill, on_order_closed
from schemas.records import OrderType, Side
from tests.factories import FIXED_NS, make_fill, make_intent

TOKENS = ("2885", "3045", "1594")
LAST = {t: Decimal(p) for t, p in zip(TOKENS, ("2450.00", "800.00", "1500.00"), strict=True)}

orders = st.lists(
    st.tuples(
        st.sampled_from(TOKENS),
        st.sampled_from(Side),
        st.integers(1, 400),
        st.sampled_from([OrderType.LIMIT, OrderType.MARKET]),
        st.integers(-8, 8),  # limit offset in percent of last
        st.integers(0, 3),  # what happens next: 0 nothing, 1 fill, 2 cancel, 3 partial fill
    ),
    max_size=60,
)
limits_st = st.builds(
    RiskLimits,
    max_order_notional=st.decimals(10_000, 2_000_000, places=0),
    max_position_qty=st.integers(100, 1500),
    max_gross_exposure=st.decimals(100_000, 5_000_000, places=0),
    max_open_orders=st.integers(1, 30),
    max_orders_per_second=st.integers(1, 100),
)


def _price(token: str, offset: int) -> Decimal:
    return (LAST[token] * (100 + offset) / 100).quantize(Decimal("0.05"))


@settings(max_examples=150, deadline=None)
@given(seq=orders, limits=limits_st)
def test_property_approvals_never_push_open_exposure_or_positions_past_limits(
    seq: list[tuple[str, Side, int, OrderType, int, int]], limits: RiskLimits
) -> None:
    state = AccountRisk("ACC1")
    for i, (token, side, qty, otype, offset, then) in enumerate(seq):
        now = FIXED_NS + i * 50_000_000
        price = _price(token, offset) if otype is OrderType.LIMIT else None
        intent = make_intent(
            instrument_token=token, side=side, quantity=qty, order_type=otype, price=price
        )
        reducing_before = _worst_case_abs(state)
        if check_order(intent, state, limits, now, LAST[token]) is not None:
            continue
        on_approved(state, intent, now, LAST[token])
        assert len(state.open_orders) <= limits.max_open_orders
        # an approval either stays within the limit or did not grow the worst case
        for key, worst in _worst_case_abs(state).items():
            assert worst <= max(limits.max_position_qty, reducing_before.get(key, 0))
        fill_price = price or LAST[token]
        if then in (1, 3):
            fill_qty = qty if then == 1 else max(1, qty // 2)
            on_fill(
                state,
                make_fill(
                    intent_id=intent.intent_id,
                    instrument_token=token,
                    side=side,
                    quantity=fill_qty,
                    price=fill_price,
                    ts_event_ns=now,
                ),
            )
        elif then == 2:
            on_order_closed(state, intent.intent_id)
    _assert_aggregates_consistent(state)


@settings(max_examples=150, deadline=None)
@given(
    seq=st.lists(st.tuples(st.sampled_from(TOKENS), st.integers(1, 300)), max_size=40),
    cap=st.decimals(50_000, 3_000_000, places=0),
)
def test_property_gross_exposure_never_exceeds_limit_after_opening_approvals(
    seq: list[tuple[str, int]], cap: Decimal
) -> None:
    state = AccountRisk("ACC1")
    limits = RiskLimits(
        max_gross_exposure=cap,
        max_order_notional=cap * 10,
        max_position_qty=10**9,
        max_open_orders=10**6,
        max_orders_per_second=10**6,
    )
    for i, (token, qty) in enumerate(seq):
        intent = make_intent(instrument_token=token, quantity=qty, price=LAST[token])
        if check_order(intent, state, limits, FIXED_NS + i, LAST[token]) is None:
            on_approved(state, intent, FIXED_NS + i, LAST[token])
            if i % 2:
                on_fill(
                    state,
                    make_fill(
                        intent_id=intent.intent_id,
                        instrument_token=token,
                        quantity=qty,
                        price=LAST[token],
                    ),
                )
        assert state.gross_exposure <= cap


@given(seq=orders)
def test_property_state_round_trips_through_json(
    seq: list[tuple[str, Side, int, OrderType, int, int]],
) -> None:
    state = AccountRisk("ACC1")
    for i, (token, side, qty, _otype, offset, then) in enumerate(seq):
        intent = make_intent(
            instrument_token=token, side=side, quantity=qty, price=_price(token, offset)
        )
        on_approved(state, intent, FIXED_NS + i, LAST[token])
        if then == 1:
            on_fill(
                state,
                make_fill(
                    intent_id=intent.intent_id,
                    instrument_token=token,
                    side=side,
                    quantity=qty,
                    price=_price(token, offset),
                ),
            )
    restored = AccountRisk.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored.to_dict() == state.to_dict()


def _worst_case_abs(state: AccountRisk) -> dict[str, int]:
    return {
        key: max(abs(i.quantity + i.open_buy), abs(i.quantity - i.open_sell))
        for key, i in state.instruments.items()
    }


def _assert_aggregates_consistent(state: AccountRisk) -> None:
    assert state.open_notional == sum((o.notional for o in state.open_orders.values()), Decimal(0))
    assert state.position_exposure == sum(
        (i.exposure for i in state.instruments.values()), Decimal(0)
    )
    for key, inst in state.instruments.items():
        buys = sum(
            o.quantity for o in state.open_orders.values() if o.key == key and o.side is Side.BUY
        )
        sells = sum(
            o.quantity for o in state.open_orders.values() if o.key == key and o.side is Side.SELL
        )
        assert (inst.open_buy, inst.open_sell) == (buys, sells)
        assert inst.open_buy >= 0
        assert inst.open_sell >= 0
