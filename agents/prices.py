"""Last traded prices for every instrument, in every worker: ``md.ticks.v1`` → ``PriceBook``.

Ticks are keyed by instrument, risk by account, so the partitions of ticks a worker would
get from the consumer group are unrelated to the accounts it owns. Each worker therefore
reads *all* tick partitions with its own consumer outside any group (``price_feed``), keeps
the last price per ``EXCH:token`` in memory and uses it for the fat-finger band, MARKET
reference prices, risk exposure marks and position marks.

At start it re-reads the last ``agents.price_lookback`` ticks of every partition, so a
restarted worker knows prices again before it takes intents (the intents agent waits for
this). Ordering relied on: ticks of one instrument are in one partition, in time order; a
tick older than the one kept (``ts_event_ns``) does not replace it. A tick that does not
decode, or whose price the book refuses, goes to ``md.ticks.v1.dlq`` and the feed moves on.

Cost: every worker reads every tick, but decodes only the newest tick of each instrument in
each fetched batch (``newest_per_key``); see ``docs/performance.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from schemas.records import Tick
from streams.app import Pipeline
from streams.errors import BrokerUnavailable, DecodeError, InvalidInput
from streams.faust_codec import send_to_dlq
from streams.kafka import aiokafka_consumer
from streams.metrics import TICKS_PROCESSED
from streams.topics import TICKS

__all__ = ["AGENT", "PriceBook", "TickRefused", "newest_per_key", "run_price_feed", "tick_problem"]

log = structlog.get_logger(__name__)
AGENT = "price_feed"


class PriceBook:
    """Last price and its event time per ``EXCH:token``."""

    __slots__ = ("_prices", "_times", "version")

    def __init__(self) -> None:
        self._prices: dict[str, Decimal] = {}
        self._times: dict[str, int] = {}
        # bumped on every change, so the mark timer can skip idle intervals
        self.version = 0

    def update(self, tick: Tick) -> None:
        """Keep ``tick``'s last price unless a newer one is known."""
        key = f"{tick.exchange}:{tick.instrument_token}"
        if tick.ts_event_ns < self._times.get(key, -1):
            return
        self._times[key] = tick.ts_event_ns
        if self._prices.get(key) != tick.last_price:
            self._prices[key] = tick.last_price
            self.version += 1

    def last(self, exchange: str, token: str) -> Decimal | None:
        """The last traded price, or None before the first tick."""
        return self._prices.get(f"{exchange}:{token}")

    def get(self, key: str) -> Decimal | None:
        """The last price of ``EXCH:token``."""
        return self._prices.get(key)

    def __len__(self) -> int:
        return len(self._prices)


class TickRefused(InvalidInput):
    """A tick the price book cannot use (a price of zero or less)."""

    code = "tick_refused"


def tick_problem(tick: Tick) -> str | None:
    """Why the book refuses ``tick``, or None: a last price must be finite and positive."""
    price = tick.last_price
    if not price.is_finite() or price <= 0:
        return f"last_price must be greater than zero, got {price}"
    return None


def newest_per_key(
    messages: Sequence[Any], decode: Any, refused: list[tuple[Any, Exception]] | None = None
) -> list[Tick]:
    """The newest usable tick of each instrument among one partition's ``messages``.

    Ticks of one instrument share a key and a partition, in time order, so only the last
    one of each key can change the book: older ones are never decoded (every worker reads
    every tick; decoding them all was ~7 % of a busy worker's CPU). A record without a key
    is decoded. An undecodable or refused record (``tick_problem``) is logged, added to
    ``refused`` with its error (for the DLQ) and the one before it is tried."""
    done: set[bytes] = set()
    ticks: list[Tick] = []
    for msg in reversed(messages):
        if msg.value is None or (msg.key is not None and msg.key in done):
            continue
        try:
            tick = decode(msg.value, Tick)
            problem = tick_problem(tick)
            if problem is not None:
                raise TickRefused(problem)
        except DecodeError as exc:
            log.warning("tick_undecodable", offset=msg.offset, error=str(exc)[:200])
            if refused is not None:
                refused.append((msg, exc))
            continue
        except TickRefused as exc:
            log.warning("tick_refused", offset=msg.offset, error=str(exc))
            if refused is not None:
                refused.append((msg, exc))
            continue
        ticks.append(tick)
        if msg.key is not None:
            done.add(msg.key)
    ticks.reverse()
    return ticks


async def _dead_letter(pipeline: Pipeline, msg: Any, exc: Exception) -> None:
    """The refused tick to ``md.ticks.v1.dlq``. The feed reads outside any group, so each
    worker, and each restart's look-back, writes its own copy (``agent`` is ``price_feed``;
    readers dedupe by source partition and offset). A failed send is logged, not fatal: the
    feed has no offsets to hold back, and the tick is left out of the book either way."""
    try:
        await send_to_dlq(
            pipeline.app, TICKS, msg.partition, msg.offset, msg.key, msg.value, exc, AGENT
        )
    except (KafkaError, BrokerUnavailable) as err:
        log.warning("tick_dead_letter_failed", offset=msg.offset, error=str(err)[:200])


async def run_price_feed(pipeline: Pipeline, book: PriceBook, on_ready: Any) -> None:
    """Follow every partition of ``md.ticks.v1`` until cancelled; ``on_ready()`` once the
    look-back is read."""
    settings = pipeline.settings
    lookback = settings.agents.price_lookback
    decode = pipeline.codec.decode
    counter = TICKS_PROCESSED.labels(agent=AGENT)
    consumer = aiokafka_consumer(
        settings,
        group_id=None,
        auto_offset_reset="latest",
        fetch_min_bytes=settings.kafka.fetch_min_bytes,
    )
    await consumer.start()
    try:
        partitions: set[int] = set()
        while not partitions:
            partitions = consumer.partitions_for_topic(TICKS) or set()
            if not partitions:
                await consumer.topics()
                await asyncio.sleep(0.2)
        tps = [TopicPartition(TICKS, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(starts[tp], ends[tp] - lookback))
        caught_up = all(ends[tp] <= starts[tp] for tp in tps)
        if caught_up:
            on_ready()
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            refused: list[tuple[Any, Exception]] = []
            for messages in batch.values():
                for tick in newest_per_key(messages, decode, refused):
                    book.update(tick)
                counter.inc(len(messages))
            for msg, exc in refused:
                await _dead_letter(pipeline, msg, exc)
            if not caught_up:
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= ends[tp] for tp in tps):
                    caught_up = True
                    log.info("prices_loaded", instruments=len(book))
                    on_ready()
    except KafkaError as exc:
        log.error("price_feed_failed", error=str(exc))
        raise
    finally:
        with contextlib.suppress(KafkaError):
            await consumer.stop()
