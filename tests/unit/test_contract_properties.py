"""Hostile strings and numbers for every field: every door refuses them alike.

The doors: the input model (``POST /v1/orders`` and ``tradepipe send`` share it; the CLI's
``parse_intents`` is checked too), the Kafka client (``IntentProducer.submit``) and the
validation agent's pure rules (``validate`` → ``MALFORMED_FIELD``), for records produced raw.
"""

# ruff: noqa: RUF001  # the non-ASCII digits in the strings are the point of these tests
from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from agents.reasons import ReasonCode
from agents.validation import validate
from connectors.ingress.models import KillSwitchRequest
from connectors.instruments import InstrumentMaster
from connectors.producer import IntentProducer
from streams import contract
from streams.cli import app
from streams.errors import InvalidInput
from streams.intents import OrderIntentIn, parse_intents
from streams.settings import KafkaSettings, Settings
from tests.factories import make_intent

MASTER = InstrumentMaster.sample()
TODAY = date(2026, 11, 21)
VALID: dict[str, Any] = {
    "intent_id": "it-1",
    "account_id": "ACC1",
    "client_order_id": "c-it-1",
    "instrument_token": "2885",
    "exchange": "NSE",
    "side": "BUY",
    "quantity": 10,
    "order_type": "LIMIT",
    "price": "2450.00",
    "symbol": "RELIANCE-EQ",
    "tag": "t1",
}
MODEL_STRINGS = ("intent_id", "account_id", "client_order_id", "instrument_token", "symbol", "tag")
RECORD_ONLY_STRINGS = ("source", "trace_id")

# Characters no field may hold: controls (NUL first), format characters (bidi embeddings,
# overrides and isolates, zero-width), line/paragraph separators, surrogates, private use.
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
HOSTILE_CHARS = st.one_of(
    st.sampled_from(["\x00", "\n", "\r", "\t", "\x7f", "\x1b", "\u200b", "\ufeff", *BIDI]),
    st.sampled_from(["\u2028", "\u2029", "\ud800", "\ue000"]),
    st.characters(categories=["Cc", "Cf"]),
)
SAFE = st.text(alphabet="ABCxyz0123", min_size=1, max_size=8)


@st.composite
def hostile_strings(draw: st.DrawFn, bound: int = 64) -> str:
    """A plausible value with something no field may hold, or one longer than ``bound``."""
    if draw(st.booleans()):
        head, tail = draw(SAFE), draw(st.text(alphabet="ABC012", max_size=8))
        return head + draw(HOSTILE_CHARS) + tail
    length = draw(st.integers(min_value=bound + 1, max_value=bound + 400))
    return (draw(SAFE) * (bound + 400))[:length]


PRICE_TEXTS = st.one_of(
    st.sampled_from(
        [
            "٢٤٥٠.٠٥",
            "２４５０",
            "2_450.05",
            " 2450.05 ",
            "2450.05\n",
            "2.45e3",
            "2450E0",
            "NaN",
            "Infinity",
            "-Infinity",
            "+2450",
            "-1",
            "0x10",
            "2,450.05",
            "1.23456",
            "",
            "0",
            "0.0000",
            "123456789012345",
            "2450.",
            ".05",
        ]
    ),
    st.builds(lambda d, c: d + c, st.from_regex(r"[0-9]{1,4}", fullmatch=True), HOSTILE_CHARS),
    st.text(alphabet="٠١٢٣٤٥٦٧٨٩０１２３४५.", min_size=1, max_size=8),
)
QUANTITY_TEXTS = st.one_of(
    st.sampled_from(["２４", "2_4", " 24", "24 ", "1e3", "+5", "-5", "0", "", "10000001", "٥"]),
    st.text(alphabet="٠١٢٣४५６７_ +-e.", min_size=1, max_size=6),
)


@pytest.fixture(scope="module")
def producer() -> Iterator[IntentProducer]:
    # A closed loopback port: nothing is sent, refusals happen before any produce call.
    settings = Settings(kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    client = IntentProducer(settings, **{"message.timeout.ms": 1000})
    yield client
    client.close(timeout=1.0)


def _model_refuses(payload: dict[str, Any]) -> bool:
    try:
        OrderIntentIn.model_validate(payload)
    except ValidationError:
        return True
    return False


def _cli_refuses(payload: dict[str, Any]) -> bool:
    try:
        parse_intents(payload)
    except InvalidInput:
        return True
    return False


def _record_refused_everywhere(producer: IntentProducer, **change: Any) -> tuple[bool, bool]:
    intent = make_intent(**change)
    inst = MASTER.find(intent.exchange, intent.instrument_token)
    agent = validate(intent, inst, today=TODAY, seen_client_order_ids=set())
    try:
        producer.submit(intent)
    except InvalidInput:
        client_refused = True
    else:
        client_refused = False
    return agent is ReasonCode.MALFORMED_FIELD, client_refused


def test_the_valid_example_passes_every_door(producer: IntentProducer) -> None:
    assert not _model_refuses(VALID)
    assert not _cli_refuses(VALID)
    record = OrderIntentIn.model_validate(VALID).to_record(source="cli", trace_id="tr-1")
    assert contract.intent_problem(record) is None
    inst = MASTER.find(record.exchange, record.instrument_token)
    assert validate(record, inst, today=TODAY, seen_client_order_ids=set()) is None


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(MODEL_STRINGS), value=hostile_strings())
def test_a_hostile_string_in_any_field_is_refused_by_every_door(
    producer: IntentProducer, field: str, value: str
) -> None:
    payload = {**VALID, field: value}
    assert _model_refuses(payload), (field, value)
    assert _cli_refuses(payload), (field, value)
    problem = contract.intent_problem(make_intent(**{field: value}))
    assert problem is not None and problem[0] == field
    assert _record_refused_everywhere(producer, **{field: value}) == (True, True)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(RECORD_ONLY_STRINGS), value=hostile_strings())
def test_a_hostile_source_or_trace_id_is_refused_by_the_client_and_the_agent(
    producer: IntentProducer, field: str, value: str
) -> None:
    assert _record_refused_everywhere(producer, **{field: value}) == (True, True)


@given(field=st.sampled_from(["price", "trigger_price"]), text=PRICE_TEXTS)
def test_a_price_not_in_ascii_decimal_form_is_refused(field: str, text: str) -> None:
    stop = {"order_type": "STOPLOSS_LIMIT", "variety": "STOPLOSS", "trigger_price": "2440.00"}
    payload = {**VALID, **(stop if field == "trigger_price" else {}), field: text}
    assert _model_refuses(payload), text
    assert _cli_refuses(payload), text
    with pytest.raises(contract.ContractViolation):
        contract.parse_price(text)


@given(text=QUANTITY_TEXTS)
def test_a_quantity_not_in_ascii_digits_or_out_of_range_is_refused(text: str) -> None:
    with pytest.raises(contract.ContractViolation):
        contract.parse_quantity(text)  # what `tradepipe send --qty` applies
    assert _model_refuses({**VALID, "quantity": text})


@given(
    quantity=st.one_of(st.integers(max_value=0), st.integers(min_value=contract.MAX_QUANTITY + 1)),
)
def test_a_quantity_out_of_range_is_refused_at_the_door(quantity: int) -> None:
    assert _model_refuses({**VALID, "quantity": quantity})


@given(
    whole=st.integers(min_value=1, max_value=10**14 - 1),
    frac=st.integers(min_value=0, max_value=9999),
)
def test_every_ascii_decimal_in_range_is_accepted_exactly(whole: int, frac: int) -> None:
    text = f"{whole}.{frac:04d}"
    parsed = OrderIntentIn.model_validate({**VALID, "price": text})
    assert str(parsed.to_record(source="cli").price) == text


@given(value=hostile_strings(contract.MAX_FREE_TEXT))
def test_free_text_refuses_control_and_bidi_characters(value: str) -> None:
    with pytest.raises(ValidationError):
        KillSwitchRequest.model_validate({"account_id": "ACC1", "reason": value})


def test_free_text_takes_ordinary_unicode() -> None:
    request = KillSwitchRequest.model_validate({"account_id": "*", "reason": "Überprüfung — 点检"})
    assert request.reason.startswith("Über")


SEND_FLAGS = {
    "--account": "account_id",
    "--token": "instrument_token",
    "--client-order-id": "client_order_id",
    "--intent-id": "intent_id",
    "--tag": "tag",
}


@settings(max_examples=40, deadline=None)
@given(flag=st.sampled_from(sorted(SEND_FLAGS)), value=hostile_strings())
def test_tradepipe_send_refuses_a_hostile_flag_with_exit_2(flag: str, value: str) -> None:
    # refused before any connection: the broker address is a closed loopback port
    args = {"--account": "ACC1", "--token": "2885", flag: value}
    argv = ["send", "--qty", "1", *(x for kv in args.items() for x in kv)]
    assert _exit_code_of(argv) == 2, (flag, value)


@settings(max_examples=40, deadline=None)
@given(flag=st.sampled_from(["--qty", "--price"]), text=st.one_of(PRICE_TEXTS, QUANTITY_TEXTS))
def test_tradepipe_send_refuses_a_number_not_in_ascii_form(flag: str, text: str) -> None:
    argv = ["send", "-a", "ACC1", "-t", "2885", "--type", "LIMIT", "--qty", "1", "--price", "1"]
    argv[argv.index(flag) + 1] = text
    if flag == "--qty" and text.isascii() and text.isdigit() and 1 <= int(text) <= 10**7:
        return  # a valid quantity (drawn by the strategy): nothing to refuse
    if flag == "--price" and contract_accepts_price(text):
        return
    assert _exit_code_of(argv) == 2, (flag, text)


def _exit_code_of(argv: list[str]) -> int:
    """``tradepipe ARGV``'s exit code; refusals come before any connection is made."""
    result = CliRunner().invoke(app, argv)
    assert result.output.startswith("tradepipe: "), result.output
    assert result.output.strip().count("\n") == 0, result.output
    return int(result.exit_code)


def contract_accepts_price(text: str) -> bool:
    try:
        contract.parse_price(text)
    except contract.ContractViolation:
        return False
    return True


@given(text=st.from_regex(contract.PRICE_SCHEMA_PATTERN, fullmatch=True))
def test_every_price_the_json_schema_states_is_accepted(text: str) -> None:
    # the OpenAPI document promises these; the server must take every one
    assert contract.parse_price(text) > 0
    assert not _model_refuses({**VALID, "price": text})
