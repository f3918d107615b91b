"""The one intent input model, shared by ``tradepipe send``, JSON files and the ingress."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import OrderType
from streams.errors import InvalidInput
from streams.intents import parse_intents

VALID = {
    "account_id": "A1",
    "instrument_token": "2885",
    "exchange": "NSE",
    "side": "BUY",
    "quantity": 5,
    "order_type": "LIMIT",
    "price": "2900.05",
}


def test_a_valid_intent_becomes_a_record_with_generated_ids() -> None:
    [item] = parse_intents(VALID)
    record = item.to_record(source="cli")
    assert record.order_type is OrderType.LIMIT
    assert record.price == Decimal("2900.0500")
    assert record.intent_id and record.client_order_id and record.trace_id
    assert record.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"exchange": "XNAS"}, "exchange"),
        ({"side": "HOLD"}, "side"),
        ({"quantity": "five"}, "quantity"),
        ({"price": "1.234567"}, "no more than 4 decimal places"),
        ({"price": " 2450.05 "}, "ASCII decimal"),
        ({"quantity": 0}, "quantity: Input should be greater than or equal to 1"),
        ({"order_type": "MARKET"}, "price is not allowed for MARKET"),
        ({"tag": "a tag with spaces"}, "tag"),
        ({"account_id": "-leading-dash"}, "account_id"),
        ({"price": "NaN"}, "price"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"account_id": "a b"}, "account_id"),
    ],
)
def test_a_structurally_invalid_intent_is_refused_with_the_field_named(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_intents({**VALID, **change})


def test_a_missing_field_is_named() -> None:
    payload = {k: v for k, v in VALID.items() if k != "side"}
    with pytest.raises(InvalidInput, match="side: Field required"):
        parse_intents(payload)


def test_a_bad_item_in_a_batch_is_named_by_index() -> None:
    with pytest.raises(InvalidInput, match="intent 1: "):
        parse_intents([VALID, {**VALID, "quantity": None}])


@given(quantity=st.integers(min_value=1, max_value=10_000_000))
def test_every_quantity_in_the_contract_range_is_accepted(quantity: int) -> None:
    # lot sizes and limits are the agents' business: they reject with a reason code
    [item] = parse_intents({**VALID, "quantity": quantity})
    assert item.quantity == quantity


def test_the_cli_generates_ids_only_when_asked() -> None:
    with pytest.raises(InvalidInput, match="intent_id: Field required"):
        parse_intents(VALID, generate_ids=False)
