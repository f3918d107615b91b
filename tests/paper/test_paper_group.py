"""Two paper exchanges in one group share the co-partitioned inputs; SIGKILL one and the
other takes its partitions over from their snapshots: the fills are still those of an
uninterrupted run."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from decimal import Decimal

import pytest

from connectors.simulator import ticks
from schemas.records import Fill, Tick
from streams.embedded import EmbeddedBroker
from streams.topics import FILLS, ORDER_EVENTS, PAPER_ORDERS, TICKS
from tests.factories import FIXED_NS
from tests.harness import CODEC, TradepipeProcess, produce, produce_raw
from tests.paper.helpers import TopicReader
from tests.paper.test_paper_restart import _equities, _expected, _orders

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]


async def test_two_members_share_partitions_and_a_killed_ones_orders_move_to_the_other(
    paper_broker: EmbeddedBroker,
    paper_process: Callable[[str], TradepipeProcess],
    reader: Callable[..., TopicReader],
) -> None:
    # Arrange
    bootstrap = paper_broker.bootstrap_servers
    instruments = _equities()
    orders = _orders(instruments)
    stream = list(itertools.islice(ticks(instruments, 5, FIXED_NS, 1_000), 14_000))
    expected = _expected(instruments, orders, stream)
    encode = CODEC.encoder(TICKS, Tick)
    raw = [(t.instrument_token.encode(), encode(t)) for t in stream]
    events = reader(ORDER_EVENTS, None)
    fills = reader(FILLS, Fill)
    first, second = paper_process("paper-a").start(), paper_process("paper-b").start()
    try:
        # Act: both members book orders and match the first half, then one dies
        await asyncio.sleep(4)  # let both join before anything is consumed
        await produce(bootstrap, PAPER_ORDERS, orders, key_field="instrument_token")
        await events.until(len(orders))
        await produce_raw(bootstrap, TICKS, raw[: len(raw) // 2])
        await fills.until(1)
        await asyncio.sleep(1.0)
        first.kill()
        await produce_raw(bootstrap, TICKS, raw[len(raw) // 2 :])
        deadline = asyncio.get_running_loop().time() + 90
        while len({f.fill_id for f in fills.records()}) < len(expected):
            assert asyncio.get_running_loop().time() < deadline, "fills did not complete"
            await fills.poll()
        await asyncio.sleep(1.5)
        await fills.poll()
    finally:
        second.stop()

    # Assert
    got: dict[str, set[tuple[int, Decimal, int]]] = {}
    for f in fills.records():
        got.setdefault(f.fill_id, set()).add((f.quantity, f.price, f.ts_event_ns))
    assert [fid for fid, contents in got.items() if len(contents) > 1] == []
    assert {fid: next(iter(c)) for fid, c in got.items()} == expected
    assert '"partition_restored"' in first.log()  # the killed member owned partitions
    taken_over = [
        line
        for line in second.log().splitlines()
        if '"partition_restored"' in line and TICKS in line  # restored with stored offsets
    ]
    assert taken_over
