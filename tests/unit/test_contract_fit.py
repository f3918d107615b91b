"""Records built by the decision logic encode with the Avro contracts (decimal scales fit)."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from itertools import islice
from pathlib import Path

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from agents.lifecycle import OrderState, apply_fill
from agents.positions import Position
from agents.positions import apply_fill as position_fill
from connectors.fees import FeeModel
from connectors.instruments import InstrumentMaster
from connectors.paper_exchange import PaperBook, PaperConfig, PaperOrder
from connectors.simulator import ticks
from schemas.records import Exchange, OrderStatus, OrderType, Record, Side
from tests.factories import FIXED_NOW, FIXED_NS, make_fill, make_intent, make_tick

AVRO_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"


def round_trip(record: Record) -> Record:
    avsc = json.loads((AVRO_DIR / f"{type(record).__name__}.avsc").read_text(encoding="utf-8"))
    schema = parse_schema(avsc)
    buf = io.BytesIO()
    schemaless_writer(buf, schema, record.to_avro())
    buf.seek(0)
    decoded = schemaless_reader(buf, schema)
    assert isinstance(decoded, dict)
    return type(record).from_avro(decoded)


def test_order_events_with_uneven_average_price_encode() -> None:
    state = OrderState.from_intent(make_intent(quantity=3))
    for status in (OrderStatus.VALIDATED, OrderStatus.APPROVED, OrderStatus.ROUTED):
        state = state.advance(status)
    state = apply_fill(state, make_fill(quantity=1, price=Decimal("100.05")))
    state = apply_fill(state, make_fill(quantity=1, price=Decimal("100")))
    state = apply_fill(state, make_fill(quantity=1, price=Decimal("100")))
    event = state.to_event(created_at=FIXED_NOW)
    assert round_trip(event) == event


def test_paper_fills_and_events_with_slippage_and_fees_encode() -> None:
    book = PaperBook("1165", Exchange.CDS, Decimal("0.0025"), PaperConfig(Decimal("7"), FeeModel()))
    intent = make_intent(
        instrument_token="1165",
        exchange=Exchange.CDS,
        order_type=OrderType.MARKET,
        price=None,
        quantity=7,
    )
    results: list[Record] = list(
        book.on_order(PaperOrder.from_intent(intent, broker_order_id="B1", seq=3), FIXED_NS)
    )
    tick = make_tick(
        instrument_token="1165",
        exchange=Exchange.CDS,
        ts_event_ns=FIXED_NS + 1,
        last_price=Decimal("84.1225"),
        bid=None,
        ask=None,
        volume=3,
    )
    results += book.on_tick(tick)
    assert len(results) == 3
    for record in results:
        assert round_trip(record) == record


def test_position_snapshots_with_thirds_encode() -> None:
    pos = Position("ACC1", "2885", Exchange.NSE)
    for side, qty, price in ((Side.BUY, 3, "100.05"), (Side.BUY, 3, "100"), (Side.SELL, 2, "99")):
        pos = position_fill(
            pos, make_fill(side=side, quantity=qty, price=Decimal(price), fee=Decimal("0.07"))
        )
    snap = pos.snapshot(created_at=FIXED_NOW)
    assert round_trip(snap) == snap


def test_simulated_ticks_encode() -> None:
    for tick in islice(ticks(InstrumentMaster.sample(), 3, FIXED_NS, 1000), 100):
        assert round_trip(tick) == tick
