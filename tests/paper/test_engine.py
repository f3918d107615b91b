"""``PaperEngine`` and ``PartitionState`` without a broker: routing of records, the tick
fast path, markers, venue rejections, poison and the snapshot round trip."""

from __future__ import annotations

from decimal import Decimal

from connectors.instruments import InstrumentMaster
from connectors.paper import PaperEngine, PartitionState, cancel_marker, expire_marker
from connectors.paper_exchange import PaperConfig
from schemas.records import Fill, OrderEvent, OrderIntent, OrderStatus, OrderType, Tick
from streams.topics import FILLS, ORDER_EVENTS, PAPER_ORDERS, TICKS
from tests.factories import FIXED_NOW, FIXED_NS, make_tick
from tests.harness import CODEC
from tests.paper.helpers import routed

_TICK = CODEC.encoder(TICKS, Tick)
_ORDER = CODEC.encoder(PAPER_ORDERS, OrderIntent)


def _engine() -> PaperEngine:
    return PaperEngine(CODEC, InstrumentMaster.sample(), PaperConfig())


def _statuses(state: PartitionState) -> list[OrderStatus]:
    return [
        CODEC.decode(v, OrderEvent).status for t, _k, v, _h in state.outbox if t == ORDER_EVENTS
    ]


def test_tick_of_an_instrument_without_orders_is_not_decoded() -> None:
    # Arrange
    engine, state = _engine(), PartitionState(partition=0)

    # Act
    engine.handle(state, TICKS, 0, b"2885", _TICK(make_tick()), 0)

    # Assert
    assert (engine.ticks_seen, engine.ticks_decoded, state.outbox) == (1, 0, [])
    assert state.offsets == {TICKS: 1}


def test_market_order_fills_against_the_next_tick_with_trace_header() -> None:
    # Arrange
    engine, state = _engine(), PartitionState(partition=2)
    order = routed(order_type=OrderType.MARKET, price=None, quantity=3, trace_id="t-1")
    engine.handle(state, PAPER_ORDERS, 0, b"2885", _ORDER(order), 1_000)

    # Act
    engine.handle(state, TICKS, 0, b"2885", _TICK(make_tick(ts_event_ns=FIXED_NS + 1)), 0)

    # Assert
    fills = [CODEC.decode(v, Fill) for t, _k, v, _h in state.outbox if t == FILLS]
    assert [(f.quantity, f.price, f.trace_id) for f in fills] == [(3, Decimal("2450.05"), "t-1")]
    assert _statuses(state) == [OrderStatus.ACCEPTED, OrderStatus.FILLED]
    assert all(h == [("trace_id", b"t-1")] for _t, _k, _v, h in state.outbox)
    assert all(k == order.account_id.encode() for _t, k, _v, _h in state.outbox)


def test_cancel_and_expire_markers_close_working_orders() -> None:
    # Arrange
    engine, state = _engine(), PartitionState(partition=0)
    a, b = routed(price=Decimal("2000.00")), routed(price=Decimal("2000.00"))
    for i, order in enumerate((a, b)):
        engine.handle(state, PAPER_ORDERS, i, b"2885", _ORDER(order), 1_000)

    # Act
    engine.handle(
        state, PAPER_ORDERS, 2, b"2885", _ORDER(cancel_marker(a, created_at=FIXED_NOW)), 2_000
    )
    engine.handle(
        state, PAPER_ORDERS, 3, b"*", _ORDER(expire_marker("2026-11-21", created_at=FIXED_NOW)), 0
    )

    # Assert
    assert _statuses(state) == [
        OrderStatus.ACCEPTED,
        OrderStatus.ACCEPTED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
    ]
    assert state.resting() == 0


def test_order_for_an_instrument_the_venue_does_not_know_is_rejected_at_seq_4() -> None:
    # Arrange
    engine, state = _engine(), PartitionState(partition=0)
    order = routed(instrument_token="424242", tick_size=None)

    # Act
    engine.handle(state, PAPER_ORDERS, 0, b"424242", _ORDER(order), 1_000)

    # Assert
    (event,) = [CODEC.decode(v, OrderEvent) for _t, _k, v, _h in state.outbox]
    assert (event.status, event.seq, event.reason_code) == (
        OrderStatus.REJECTED,
        4,
        "VENUE_REJECTED",
    )


def test_poison_on_either_input_goes_to_the_dlq_outbox_and_offsets_move() -> None:
    # Arrange
    engine, state = _engine(), PartitionState(partition=1)

    # Act
    engine.handle(state, TICKS, 7, b"2885", b"junk", 0)
    engine.handle(state, PAPER_ORDERS, 9, b"2885", b"\x00\x00\x00\x00\x01", 0)

    # Assert
    assert [(t, dict(h)["source_offset"]) for t, _k, _v, h in state.outbox] == [
        (TICKS + ".dlq", b"7"),
        (PAPER_ORDERS + ".dlq", b"9"),
    ]
    assert state.offsets == {TICKS: 8, PAPER_ORDERS: 10}


def test_partition_state_round_trips_books_offsets_and_outbox() -> None:
    # Arrange
    engine, state = _engine(), PartitionState(partition=3)
    engine.handle(state, PAPER_ORDERS, 0, b"2885", _ORDER(routed(quantity=500)), 1_000)
    engine.handle(state, TICKS, 0, b"2885", _TICK(make_tick(ts_event_ns=FIXED_NS + 5)), 0)

    # Act
    back = PartitionState.from_dict(state.to_dict())

    # Assert
    assert back.offsets == state.offsets
    assert back.outbox == state.outbox
    assert {k: b.to_dict() for k, b in back.books.items()} == {
        k: b.to_dict() for k, b in state.books.items()
    }
    assert list(back.by_token) == [b"2885"]


def test_an_order_whose_fills_could_not_be_recorded_is_rejected_and_ticks_keep_working() -> None:
    # Arrange: a limit order of 10,000,000 at 2e7 (notional 2e14, past decimal(18, 4))
    engine, state = _engine(), PartitionState(partition=0)
    huge = routed(quantity=10_000_000, price=Decimal("20000000.00"))
    fine = routed(order_type=OrderType.MARKET, price=None, quantity=1)

    # Act
    engine.handle(state, PAPER_ORDERS, 0, b"2885", _ORDER(huge), 1_000)
    engine.handle(state, PAPER_ORDERS, 1, b"2885", _ORDER(fine), 1_000)
    engine.handle(state, TICKS, 0, b"2885", _TICK(make_tick(ts_event_ns=FIXED_NS + 5)), 0)

    # Assert: the huge one is REJECTED at booking, the tick fills the other, nothing dead
    events = [CODEC.decode(v, OrderEvent) for t, _k, v, _h in state.outbox if t == ORDER_EVENTS]
    rejected = [e for e in events if e.intent_id == huge.intent_id]
    assert [(e.status, e.reason_code) for e in rejected] == [
        (OrderStatus.REJECTED, "VENUE_REJECTED")
    ]
    assert rejected[0].reason is not None and "notional" in rejected[0].reason
    assert any(t == FILLS for t, _k, _v, _h in state.outbox)
    assert not [t for t, _k, _v, _h in state.outbox if t.endswith(".dlq")]
