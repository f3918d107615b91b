"""SIGKILL the paper exchange mid-stream and restart it: the fills are those of an
uninterrupted run, and no fill id ever carries two different fills."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from decimal import Decimal

import pytest

from connectors.ids import paper_order_id
from connectors.instruments import Instrument, InstrumentMaster
from connectors.paper import ROUTED_SEQ
from connectors.paper_exchange import PaperBook, PaperOrder
from connectors.simulator import ticks
from schemas.records import Exchange, Fill, OrderIntent, OrderType, Side, Tick
from streams.embedded import EmbeddedBroker
from streams.topics import FILLS, ORDER_EVENTS, PAPER_ORDERS, TICKS
from tests.factories import FIXED_NS
from tests.harness import CODEC, TradepipeProcess, produce, produce_raw
from tests.paper.helpers import TopicReader, routed

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]

TICK_COUNT = 21_000
_D = Decimal


def _equities() -> list[Instrument]:
    master = InstrumentMaster.sample()
    return [i for i in master if i.exchange is Exchange.NSE and i.instrument_type == ""]


def _orders(instruments: list[Instrument]) -> list[OrderIntent]:
    """Per instrument: market BUY/SELL, limits either side of 1000, a stop BUY; sizes that
    exceed one tick's volume so most orders fill over several ticks."""
    out: list[OrderIntent] = []
    for inst in instruments:
        common = {"instrument_token": inst.token, "tick_size": inst.tick_size, "lot_size": 1}
        out += [
            routed(order_type=OrderType.MARKET, price=None, quantity=30, **common),
            routed(order_type=OrderType.MARKET, price=None, side=Side.SELL, quantity=25, **common),
            routed(price=_D("999.50"), quantity=45, **common),
            routed(price=_D("998.00"), quantity=60, **common),
            routed(price=_D("1000.50"), side=Side.SELL, quantity=45, **common),
            routed(price=_D("1002.00"), side=Side.SELL, quantity=60, **common),
            routed(
                order_type=OrderType.STOPLOSS_MARKET,
                price=None,
                trigger_price=_D("1001.00"),
                quantity=40,
                **common,
            ),
        ]
    return out


def _expected(
    instruments: list[Instrument], orders: list[OrderIntent], stream: list[Tick]
) -> dict[str, tuple[int, Decimal, int]]:
    """An uninterrupted run, computed with the pure matching core: orders first, then ticks."""
    books = {i.token: PaperBook(i.token, i.exchange, i.tick_size) for i in instruments}
    for intent in orders:
        order = PaperOrder.from_intent(
            intent, broker_order_id=paper_order_id(intent.intent_id), seq=ROUTED_SEQ
        )
        books[intent.instrument_token].on_order(order, FIXED_NS)
    fills: dict[str, tuple[int, Decimal, int]] = {}
    for tick in stream:
        for rec in books[tick.instrument_token].on_tick(tick):
            if isinstance(rec, Fill):
                fills[rec.fill_id] = (rec.quantity, rec.price, rec.ts_event_ns)
    return fills


async def test_sigkill_mid_stream_and_restart_gives_the_uninterrupted_fills(
    paper_broker: EmbeddedBroker,
    paper_process: Callable[[str], TradepipeProcess],
    reader: Callable[..., TopicReader],
) -> None:
    # Arrange
    bootstrap = paper_broker.bootstrap_servers
    instruments = _equities()
    orders = _orders(instruments)
    stream = list(itertools.islice(ticks(instruments, 11, FIXED_NS, 1_000), TICK_COUNT))
    expected = _expected(instruments, orders, stream)
    encode = CODEC.encoder(TICKS, Tick)
    raw = [(t.instrument_token.encode(), encode(t)) for t in stream]
    first, rest = raw[: TICK_COUNT // 3], raw[TICK_COUNT // 3 :]
    events = reader(ORDER_EVENTS, None)
    fills = reader(FILLS, Fill)
    assert len(expected) > 100

    # Act: orders booked, a third of the ticks, then SIGKILL while the rest streams in
    paper = paper_process("paper-1").start()
    await produce(bootstrap, PAPER_ORDERS, orders, key_field="instrument_token")
    await events.until(len(orders))
    await produce_raw(bootstrap, TICKS, first)
    await fills.until(1)

    async def trickle() -> None:
        for i in range(0, len(rest), 1000):
            await produce_raw(bootstrap, TICKS, rest[i : i + 1000])
            await asyncio.sleep(0.1)

    feeder = asyncio.create_task(trickle())
    await asyncio.sleep(0.7)
    paper.kill()
    await feeder
    before_kill = len({f.fill_id for f in fills.records()})
    with paper_process("paper-2"):
        deadline = asyncio.get_running_loop().time() + 90
        while len({f.fill_id for f in fills.records()}) < len(expected):
            assert asyncio.get_running_loop().time() < deadline, "fills did not complete"
            await fills.poll()
        await asyncio.sleep(1.5)  # anything extra would show up now
        await fills.poll()

    # Assert
    got: dict[str, set[tuple[int, Decimal, int]]] = {}
    for f in fills.records():
        got.setdefault(f.fill_id, set()).add((f.quantity, f.price, f.ts_event_ns))
    assert before_kill < len(expected)  # the kill happened mid-run
    assert [fid for fid, contents in got.items() if len(contents) > 1] == []
    assert {fid: next(iter(c)) for fid, c in got.items()} == expected
