"""The order state machine: allowed transitions, races, fills, ids, serialisation."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.lifecycle import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    OrderState,
    apply_fill,
    can_transition,
    event_id,
    is_stale,
    transition,
)
from agents.reasons import ReasonCode
from schemas.records import OrderStatus
from streams.errors import IllegalTransition
from tests.factories import FIXED_NOW, make_fill, make_intent

S = OrderStatus
HAPPY_PATH = [
    S.RECEIVED,
    S.VALIDATED,
    S.APPROVED,
    S.ROUTED,
    S.ACCEPTED,
    S.PARTIALLY_FILLED,
    S.FILLED,
]


def routed(qty: int = 10) -> OrderState:
    state = OrderState.from_intent(make_intent(quantity=qty))
    for status in (S.VALIDATED, S.APPROVED, S.ROUTED):
        state = state.advance(status)
    return state


def test_happy_path_is_allowed_step_by_step() -> None:
    for current, new in itertools.pairwise(HAPPY_PATH):
        assert transition(current, new) is new


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_nothing_leaves_a_terminal_status(status: OrderStatus) -> None:
    assert all(not can_transition(status, new) for new in OrderStatus)


def test_rejection_and_denial_are_reachable_only_from_their_stage() -> None:
    assert can_transition(S.RECEIVED, S.REJECTED)
    assert can_transition(S.VALIDATED, S.DENIED)
    assert not can_transition(S.RECEIVED, S.DENIED)
    assert not can_transition(S.RECEIVED, S.APPROVED)


def test_illegal_transition_raises_with_its_code() -> None:
    with pytest.raises(IllegalTransition, match="FILLED -> CANCELLED") as info:
        transition(S.FILLED, S.CANCELLED)
    assert info.value.code == "illegal_transition"


def test_venue_fill_may_overtake_its_acknowledgement() -> None:
    assert can_transition(S.ROUTED, S.FILLED)
    assert can_transition(S.ROUTED, S.PARTIALLY_FILLED)


def test_cancel_before_routing_is_allowed() -> None:
    assert can_transition(S.APPROVED, S.CANCELLED)


def test_unknown_status_is_never_a_legal_source_or_target() -> None:
    assert not TRANSITIONS[S.UNKNOWN]
    assert all(S.UNKNOWN not in targets for targets in TRANSITIONS.values())


def test_partial_then_full_fill_tracks_quantity_and_average_price() -> None:
    state = routed(10)
    state = apply_fill(state, make_fill(quantity=4, price=Decimal("100")))
    assert (state.status, state.filled_quantity, state.leaves_quantity) == (
        S.PARTIALLY_FILLED,
        4,
        6,
    )
    state = apply_fill(state, make_fill(quantity=6, price=Decimal("101")))
    assert state.status is S.FILLED
    assert state.avg_fill_price == Decimal("100.6000")
    assert state.leaves_quantity == 0


def test_fill_racing_a_cancel_is_recorded_and_order_stays_cancelled() -> None:
    state = apply_fill(routed(10), make_fill(quantity=3)).advance(S.CANCELLED)
    late = apply_fill(state, make_fill(quantity=2))
    assert (late.status, late.filled_quantity, late.leaves_quantity) == (S.CANCELLED, 5, 0)
    assert late.seq == state.seq + 1


def test_late_fill_completing_a_cancelled_order_makes_it_filled() -> None:
    state = routed(10).advance(S.CANCELLED)
    assert apply_fill(state, make_fill(quantity=10)).status is S.FILLED


def test_late_fill_on_expired_order_is_recorded() -> None:
    state = routed(10).advance(S.EXPIRED)
    assert apply_fill(state, make_fill(quantity=1)).status is S.EXPIRED


def test_fill_on_a_rejected_order_is_refused() -> None:
    state = OrderState.from_intent(make_intent()).advance(S.REJECTED)
    with pytest.raises(IllegalTransition):
        apply_fill(state, make_fill(quantity=1))


def test_overfill_is_refused_with_overfill_code() -> None:
    with pytest.raises(IllegalTransition) as info:
        apply_fill(routed(10), make_fill(quantity=11))
    assert info.value.code == ReasonCode.OVERFILL.lower()


def test_same_fill_twice_changes_nothing() -> None:
    fill = make_fill(quantity=4)
    once = apply_fill(routed(10), fill)
    assert apply_fill(once, fill) is once


def test_event_ids_are_deterministic_and_distinct_per_step() -> None:
    assert event_id("i1", "ROUTED", 3) == event_id("i1", "ROUTED", 3)
    assert len({event_id("i1", s, n) for s in ("ROUTED", "FILLED") for n in (1, 2)}) == 4


def test_to_event_carries_state_reason_and_deterministic_id() -> None:
    state = OrderState.from_intent(make_intent()).advance(S.REJECTED)
    event = state.to_event(
        created_at=FIXED_NOW, reason_code=ReasonCode.QTY_NOT_POSITIVE, stage="validation"
    )
    assert event.status is S.REJECTED
    assert event.seq == 1
    assert event.reason_code == "QTY_NOT_POSITIVE"
    assert event.reason == ReasonCode.QTY_NOT_POSITIVE.description
    assert event.event_id == event_id(state.intent_id, "REJECTED", 1)


def test_order_state_round_trips_through_json() -> None:
    state = apply_fill(routed(10), make_fill(quantity=3, price=Decimal("99.95")))
    assert OrderState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@given(st.lists(st.sampled_from(OrderStatus), max_size=30))
def test_property_no_path_of_accepted_transitions_reaches_an_illegal_state(
    attempts: list[OrderStatus],
) -> None:
    current = S.RECEIVED
    visited = [current]
    for new in attempts:
        if can_transition(current, new):
            current = transition(current, new)
            visited.append(current)
        else:
            with pytest.raises(IllegalTransition):
                transition(current, new)
    assert S.UNKNOWN not in visited
    for before, after in itertools.pairwise(visited):
        assert after in TRANSITIONS[before]
    # once terminal, always the last state visited
    terminal = [i for i, s in enumerate(visited) if s in TERMINAL_STATUSES]
    assert not terminal or terminal[0] == len(visited) - 1


@given(st.lists(st.integers(1, 5), min_size=1, max_size=20), st.booleans())
def test_property_fills_never_exceed_quantity_and_status_matches_leaves(
    sizes: list[int], cancel_midway: bool
) -> None:
    state = routed(20)
    for i, size in enumerate(sizes):
        if cancel_midway and i == len(sizes) // 2 and state.status in OPEN_STATUSES:
            state = state.advance(S.CANCELLED)
        fill = make_fill(quantity=size)
        if state.filled_quantity + size > state.quantity:
            with pytest.raises(IllegalTransition):
                apply_fill(state, fill)
            continue
        state = apply_fill(state, fill)
        assert state.filled_quantity <= state.quantity
        assert (state.status is S.FILLED) == (state.filled_quantity == state.quantity)


def test_acknowledgement_arriving_after_a_fill_is_stale_not_illegal() -> None:
    assert is_stale(S.PARTIALLY_FILLED, S.ACCEPTED)
    assert is_stale(S.FILLED, S.ROUTED)


def test_a_real_illegal_transition_is_not_stale() -> None:
    assert not is_stale(S.FILLED, S.CANCELLED)
    assert not is_stale(S.REJECTED, S.FILLED)
    assert not is_stale(S.ROUTED, S.ACCEPTED)
