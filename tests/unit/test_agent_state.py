"""The agents' per-key table values and worker-local state: bounded memories, round trips,
the kill switch applied in offset order, last prices that never go back in time."""

from __future__ import annotations

from decimal import Decimal

from agents.context import GlobalSwitch
from agents.lifecycle import OrderState
from agents.orders import OrderBook
from agents.prices import PriceBook, newest_per_key
from agents.risk import RiskLimits
from agents.route import RoutedIds
from agents.validate import SeenIds
from schemas.records import OrderStatus, TradingState
from tests.factories import FIXED_NS, make_command, make_intent, make_tick


def test_seen_ids_forget_oldest_intent_beyond_the_limit_and_round_trip() -> None:
    # Arrange
    seen = SeenIds()
    # Act
    for n in range(5):
        seen.remember(f"i{n}", limit=3)
    seen.today(20_000)["c1"] = None
    back = SeenIds.from_dict(seen.to_dict())
    # Assert
    assert list(back.intents) == ["i2", "i3", "i4"]
    assert "c1" in back.today(20_000)


def test_seen_client_order_ids_start_empty_on_a_new_day() -> None:
    seen = SeenIds()
    seen.today(20_000)["c1"] = None
    assert "c1" not in seen.today(20_001)


def test_routed_ids_are_bounded_and_round_trip() -> None:
    routed = RoutedIds()
    for n in range(4):
        routed.add(f"i{n}", f"P-i{n}", limit=2)
    assert RoutedIds.from_dict(routed.to_dict()).ids == {"i2": "P-i2", "i3": "P-i3"}


def _routed_state(intent_id: str) -> OrderState:
    state = OrderState.from_intent(make_intent(intent_id=intent_id))
    for status in (OrderStatus.VALIDATED, OrderStatus.APPROVED, OrderStatus.ROUTED):
        state = state.advance(status)
    return state


def test_order_book_keeps_open_orders_and_forgets_the_oldest_closed_ones() -> None:
    # Arrange
    book = OrderBook()
    book.put(_routed_state("open"), closed_memory=2)
    # Act
    for n in range(3):
        book.put(_routed_state(f"c{n}").advance(OrderStatus.CANCELLED), closed_memory=2)
    back = OrderBook.from_dict(book.to_dict())
    # Assert
    assert set(back.orders) == {"open", "c1", "c2"}
    assert back.open_count == 1


def test_global_switch_ignores_an_older_command_delivered_late() -> None:
    # Arrange
    switch = GlobalSwitch()
    halt = make_command(account_id="*", trading_state=TradingState.HALTED)
    active = make_command(account_id="*", trading_state=TradingState.ACTIVE)
    # Act
    assert switch.apply(halt, partition=0, offset=5, limits=RiskLimits())
    applied_again = switch.apply(active, partition=0, offset=4, limits=RiskLimits())
    # Assert
    assert not applied_again
    assert switch.trading_state is TradingState.HALTED


def test_price_book_keeps_the_newest_tick_only() -> None:
    book = PriceBook()
    book.update(make_tick(ts_event_ns=FIXED_NS + 10, last_price=Decimal("2451.00")))
    book.update(make_tick(ts_event_ns=FIXED_NS, last_price=Decimal("2449.00")))
    assert book.last("NSE", "2885") == Decimal("2451.00")


def test_the_price_feed_decodes_only_the_newest_tick_of_each_instrument() -> None:
    from types import SimpleNamespace

    from schemas.codec import AvroCodec
    from schemas.registry import FileRegistry

    codec = AvroCodec(FileRegistry())
    decoded: list[bytes] = []

    def decode(value: bytes, record_type: type) -> object:
        decoded.append(value)
        return codec.decode(value, record_type)

    def msg(offset: int, token: str, price: str) -> SimpleNamespace:
        tick = make_tick(instrument_token=token, last_price=Decimal(price))
        value = codec.encode("md.ticks.v1", tick)
        return SimpleNamespace(offset=offset, key=token.encode(), value=value)

    messages = [
        msg(0, "2885", "2450.00"),
        msg(1, "1594", "1500.00"),
        msg(2, "2885", "2451.00"),
        msg(3, "1594", "1501.00"),
        msg(4, "2885", "2452.00"),
        SimpleNamespace(offset=5, key=b"1594", value=b"\x00\x00\x00\x00\x07not avro"),
    ]
    ticks = newest_per_key(messages, decode)
    # 1594's newest record is poison, so the one before it is used
    assert [(t.instrument_token, t.last_price) for t in ticks] == [
        ("1594", Decimal("1501.00")),
        ("2885", Decimal("2452.00")),
    ]
    assert len(decoded) == 3  # 2885@4, the poison at 5, 1594@3: nothing older
    book = PriceBook()
    for tick in ticks:
        book.update(tick)
    assert book.last("NSE", "2885") == Decimal("2452.00")
    assert book.last("NSE", "1594") == Decimal("1501.00")
