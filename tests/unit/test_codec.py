"""The Avro codec: Confluent framing, round trips, poison detection, independent readers."""

from __future__ import annotations

import io
import json
import struct
from datetime import UTC, datetime
from decimal import Decimal

import avro.io
import avro.schema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import AvroCodec, frame, unframe
from schemas.records import (
    AuditEvent,
    CommandKind,
    ControlCommand,
    Duration,
    Exchange,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionSnapshot,
    Product,
    Side,
    Tick,
    TradingState,
    Variety,
)
from schemas.registry import AVRO_DIR, FileRegistry
from streams.errors import DecodeError, SchemaNotFound
from tests.factories import make_intent

CODEC = AvroCodec(FileRegistry())

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=36)
prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("99999999.9999"), places=4)
money = st.decimals(
    min_value=Decimal("-9999999999.9999"), max_value=Decimal("9999999999.9999"), places=4
)
times = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 — hypothesis takes naive bounds with `timezones`
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001 — as above
    timezones=st.just(UTC),
).map(lambda d: d.replace(microsecond=d.microsecond))
longs = st.integers(min_value=-(2**63), max_value=2**63 - 1)

intents = st.builds(
    OrderIntent,
    intent_id=ids,
    account_id=ids,
    client_order_id=ids,
    instrument_token=ids,
    exchange=st.sampled_from(Exchange),
    side=st.sampled_from(Side),
    quantity=longs,
    order_type=st.sampled_from(OrderType),
    variety=st.sampled_from(Variety),
    product=st.sampled_from(Product),
    duration=st.sampled_from(Duration),
    price=st.none() | prices,
    trigger_price=st.none() | prices,
    symbol=st.none() | st.text(max_size=20),
    tag=st.none() | st.text(max_size=20),
    lot_size=st.none() | longs,
    tick_size=st.none() | prices,
    reference_price=st.none() | prices,
    venue=st.none() | ids,
    created_at=times,
    trace_id=ids,
)
events = st.builds(
    OrderEvent,
    event_id=ids,
    intent_id=ids,
    account_id=ids,
    client_order_id=ids,
    instrument_token=ids,
    exchange=st.sampled_from(Exchange),
    side=st.sampled_from(Side),
    status=st.sampled_from(OrderStatus),
    seq=longs,
    quantity=longs,
    filled_quantity=longs,
    leaves_quantity=longs,
    price=st.none() | prices,
    avg_fill_price=st.none() | prices,
    reason_code=st.none() | ids,
    reason=st.none() | st.text(max_size=50),
    created_at=times,
)
fills = st.builds(
    Fill,
    fill_id=ids,
    intent_id=ids,
    broker_order_id=ids,
    account_id=ids,
    instrument_token=ids,
    exchange=st.sampled_from(Exchange),
    side=st.sampled_from(Side),
    quantity=longs,
    price=prices,
    fee=prices,
    ts_event_ns=longs,
    created_at=times,
)
positions = st.builds(
    PositionSnapshot,
    account_id=ids,
    instrument_token=ids,
    exchange=st.sampled_from(Exchange),
    quantity=longs,
    avg_price=st.none() | prices,
    realised_pnl=money,
    unrealised_pnl=money,
    fees=money,
    version=longs,
    created_at=times,
)
ticks = st.builds(
    Tick,
    instrument_token=ids,
    exchange=st.sampled_from(Exchange),
    ts_event_ns=longs,
    last_price=prices,
    volume=longs,
    bid=st.none() | prices,
    ask=st.none() | prices,
    created_at=times,
)
audits = st.builds(
    AuditEvent,
    event_id=ids,
    actor=ids,
    action=ids,
    outcome=ids,
    details=st.dictionaries(ids, st.text(max_size=20), max_size=4),
    created_at=times,
)
commands = st.builds(
    ControlCommand,
    command_id=ids,
    account_id=ids,
    command=st.sampled_from(CommandKind),
    actor=ids,
    trading_state=st.none() | st.sampled_from(TradingState),
    limits=st.dictionaries(ids, ids, max_size=3),
    created_at=times,
)

TOPIC_FOR = {
    OrderIntent: "orders.intents.v1",
    OrderEvent: "orders.events.v1",
    Fill: "exec.fills.v1",
    PositionSnapshot: "positions.v1",
    Tick: "md.ticks.v1",
    AuditEvent: "audit.events.v1",
    ControlCommand: "control.commands.v1",
}


@settings(max_examples=60, deadline=None)
@given(record=st.one_of(intents, events, fills, positions, ticks, audits, commands))
def test_every_record_survives_an_encode_decode_round_trip(record: object) -> None:
    # Arrange
    record_type = type(record)
    # Act
    data = CODEC.encode(TOPIC_FOR[record_type], record)  # type: ignore[index,arg-type]
    back = CODEC.decode(data, record_type)  # type: ignore[type-var]
    # Assert
    assert back == record


@settings(max_examples=40, deadline=None)
@given(record=intents)
def test_an_independent_avro_implementation_reads_our_bytes_from_the_avsc(
    record: OrderIntent,
) -> None:
    # Arrange: Apache Avro's own reader, given only the committed .avsc
    schema = avro.schema.parse((AVRO_DIR / "OrderIntent.avsc").read_text())
    data = CODEC.encode("orders.intents.v1", record)
    schema_id, body = unframe(data)
    # Act
    decoded = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(bytes(body))))
    # Assert
    assert data[0] == 0 and schema_id == FileRegistry().id_for(
        "orders.intents.v1-value", json.loads((AVRO_DIR / "OrderIntent.avsc").read_text())
    )
    assert decoded["intent_id"] == record.intent_id
    assert decoded["quantity"] == record.quantity
    assert decoded["price"] == record.price
    assert decoded["side"] == record.side.value


def test_frame_writes_magic_byte_and_big_endian_schema_id() -> None:
    assert frame(258, b"xy") == b"\x00\x00\x00\x01\x02xy"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x00\x00", "shorter than the 5-byte header"),
        (b"\x01\x00\x00\x00\x02abc", "magic byte is 1"),
        (b"\x00\x00\x00\x00\x02\xff\xff\xff", "does not decode"),
    ],
)
def test_decode_refuses_bytes_that_are_not_a_framed_avro_record(data: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        CODEC.decode(data, OrderIntent)


def test_decode_refuses_an_unknown_schema_id() -> None:
    with pytest.raises(SchemaNotFound, match="unknown schema id 999"):
        CODEC.decode(struct.pack(">bI", 0, 999) + b"\x00", OrderIntent)


def test_decode_refuses_a_record_of_another_type() -> None:
    data = CODEC.encode(
        "exec.fills.v1",
        Fill(
            fill_id="f",
            intent_id="i",
            broker_order_id="b",
            account_id="a",
            instrument_token="1",
            exchange=Exchange.NSE,
            side=Side.BUY,
            quantity=1,
            price=Decimal("1.0000"),
        ),
    )
    with pytest.raises(DecodeError, match=r"not io\.tradepipe\.v1\.OrderIntent"):
        CODEC.decode(data, OrderIntent)


def test_decode_refuses_trailing_bytes_after_the_body() -> None:
    data = CODEC.encode(
        "positions.v1",
        PositionSnapshot(account_id="a", instrument_token="1", exchange=Exchange.NSE, quantity=1),
    )
    with pytest.raises(DecodeError, match="trailing bytes"):
        CODEC.decode(data + b"\x00\x00", PositionSnapshot)


def test_encode_refuses_a_price_finer_than_the_schema_scale() -> None:
    intent = OrderIntent(
        intent_id="i",
        account_id="a",
        client_order_id="c",
        instrument_token="1",
        exchange=Exchange.NSE,
        side=Side.BUY,
        quantity=1,
        order_type=OrderType.LIMIT,
        price=Decimal("1.23456"),
    )
    with pytest.raises(ValueError, match="Scale"):
        CODEC.encode("orders.intents.v1", intent)


def test_decode_any_names_the_record_from_the_writer_schema() -> None:
    data = CODEC.encode(
        "md.ticks.v1",
        Tick(
            instrument_token="2885",
            exchange=Exchange.NSE,
            ts_event_ns=1,
            last_price=Decimal("10.0500"),
        ),
    )
    name, value = CODEC.decode_any(data)
    assert name == "Tick"
    assert value["last_price"] == Decimal("10.0500")


def test_parsed_schemas_keep_fastavros_marker_so_they_are_not_reparsed_per_record() -> None:
    codec = AvroCodec(FileRegistry())
    record = make_intent()
    data = codec.encode("orders.intents.v1", record)
    assert codec._current(OrderIntent)["__fastavro_parsed"] is True
    assert codec.decode(data, OrderIntent) == record
    schema_id, _ = unframe(data)
    assert codec._writers[schema_id]["__fastavro_parsed"] is True
