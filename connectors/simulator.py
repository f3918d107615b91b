"""Seeded random-walk market ticks for the sample instruments (no I/O, no clock).

``ticks`` yields an endless, deterministic stream: each step picks the next instrument in
round-robin order, moves its last price by a few ticks, quotes a bid and ask one or two ticks
around it and offers a volume of whole lots. Prices are integer multiples of the instrument's
tick size (the walk runs in integer tick units) and never fall below one tick. Each tick's
``volume`` is the quantity traded at that tick (not a cumulative day volume).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal

from connectors.ids import ns_to_datetime
from connectors.instruments import Instrument
from schemas.prices import round_to_tick
from schemas.records import Tick

__all__ = ["DEFAULT_START_PRICE", "ticks"]

DEFAULT_START_PRICE = Decimal(1000)


def ticks(
    instruments: Iterable[Instrument],
    seed: int,
    start_ns: int,
    step_ns: int,
    *,
    start_prices: Mapping[str, Decimal] | None = None,
    max_step_ticks: int = 3,
    max_lots: int = 20,
) -> Iterator[Tick]:
    """Endless ticks, one instrument per step, ``step_ns`` apart from ``start_ns``.

    ``start_prices`` maps ``instrument.key`` (``"NSE:2885"``) to a starting price (rounded to
    the tick); the default is ``DEFAULT_START_PRICE``, or the strike for options.
    """
    insts = list(instruments)
    if not insts:
        return
    rng = random.Random(seed)
    prices = start_prices or {}
    units: list[int] = []
    for inst in insts:
        start = prices.get(inst.key) or inst.strike or DEFAULT_START_PRICE
        units.append(max(1, int(round_to_tick(start, inst.tick_size) / inst.tick_size)))
    ts = start_ns
    n = len(insts)
    i = 0
    while True:
        idx = i % n
        inst = insts[idx]
        tick = inst.tick_size
        last = max(1, units[idx] + rng.randint(-max_step_ticks, max_step_ticks))
        units[idx] = last
        half_spread = rng.randint(1, 2)
        bid = max(1, last - half_spread)
        ask = last + half_spread
        lots = rng.randint(1, max_lots)
        yield Tick(
            instrument_token=inst.token,
            exchange=inst.exchange,
            ts_event_ns=ts,
            last_price=last * tick,
            last_qty=inst.lot_size,
            volume=lots * inst.lot_size,
            bid=bid * tick,
            ask=ask * tick,
            bid_qty=rng.randint(1, max_lots) * inst.lot_size,
            ask_qty=rng.randint(1, max_lots) * inst.lot_size,
            source="sim",
            created_at=ns_to_datetime(ts),
            trace_id=f"sim-{seed}-{i}",
        )
        ts += step_ns
        i += 1
