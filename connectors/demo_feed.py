"""The demo flow of ``tradepipe up``: a seeded stream of order intents, a few of them bad."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Iterator
from decimal import Decimal

import structlog

from connectors.instruments import InstrumentMaster
from schemas.prices import round_to_tick
from schemas.records import Exchange, OrderIntent, OrderType, Product, Side, utcnow
from streams.errors import ConfigError
from streams.settings import Settings

__all__ = ["DEMO_ACCOUNTS", "DemoFeed", "demo_intents", "run_demo"]

log = structlog.get_logger(__name__)

DEMO_ACCOUNTS = ("DEMO1", "DEMO2", "DEMO3")
# (token, symbol, reference price) of liquid NSE equities in the sample instrument master.
_INSTRUMENTS = (
    ("2885", "RELIANCE-EQ", "2900"),
    ("3045", "SBIN-EQ", "820"),
    ("1594", "INFY-EQ", "1900"),
)


def demo_intents(
    seed: int = 7, bad_every: int = 10, master: InstrumentMaster | None = None
) -> Iterator[OrderIntent]:
    """An endless, reproducible sequence of intents; every ``bad_every``-th breaks a rule.

    Limit prices are on the instrument's tick in ``master`` (default: the shipped sample, the
    one the worker validates against when no other master was loaded).
    """
    master = master or InstrumentMaster.sample()
    ticks = {token: _tick(master, token) for token, _, _ in _INSTRUMENTS}
    rng = random.Random(seed)
    n = 0
    while True:
        n += 1
        token, symbol, ref = rng.choice(_INSTRUMENTS)
        side = rng.choice((Side.BUY, Side.SELL))
        limit = rng.random() < 0.5
        price = (
            round_to_tick(Decimal(ref) * Decimal(1 + rng.uniform(-0.01, 0.01)), ticks[token])
            if limit
            else None
        )
        quantity = rng.choice((1, 2, 5, 10))
        if n % bad_every == 0:
            quantity = 0  # rejected by validation: QTY_NOT_POSITIVE
        intent_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        yield OrderIntent(
            intent_id=intent_id,
            account_id=rng.choice(DEMO_ACCOUNTS),
            client_order_id=f"demo-{seed}-{n}",
            instrument_token=token,
            symbol=symbol,
            exchange=Exchange.NSE,
            side=side,
            quantity=quantity,
            order_type=OrderType.LIMIT if limit else OrderType.MARKET,
            product=Product.INTRADAY,
            price=price.quantize(Decimal("0.0001")) if price is not None else None,
            source="demo",
            created_at=utcnow(),
            trace_id=uuid.uuid4().hex,
        )


def _tick(master: InstrumentMaster, token: str) -> Decimal:
    inst = master.get(Exchange.NSE.value, token)
    if inst is None:
        raise ConfigError(f"the instrument master has no NSE:{token}, which the demo trades")
    return inst.tick_size


class DemoFeed:
    """Publishes ``demo_intents`` at ``rate`` per second until stopped."""

    def __init__(self, settings: Settings, *, rate: float = 2.0, seed: int | None = None) -> None:
        self.settings = settings
        self.rate = rate
        self.seed = seed if seed is not None else random.SystemRandom().randrange(1 << 30)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, limit: int | None = None) -> int:
        """Publish until ``stop()`` (or ``limit`` intents); returns how many were sent."""
        from aiokafka.errors import KafkaError

        from streams.app import make_codec
        from streams.errors import BrokerUnavailable
        from streams.kafka import aiokafka_producer, trace_headers
        from streams.topics import INTENTS

        encode = make_codec(self.settings).encoder(INTENTS, OrderIntent)
        producer = aiokafka_producer(self.settings)
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise BrokerUnavailable(
                f"cannot reach Kafka at {self.settings.kafka.bootstrap_servers}: {exc}"
            ) from exc
        sent = 0
        try:
            for intent in demo_intents(self.seed):
                if self._stopping.is_set() or (limit is not None and sent >= limit):
                    break
                await producer.send_and_wait(
                    INTENTS,
                    encode(intent),
                    key=intent.account_id.encode(),
                    headers=trace_headers(intent.trace_id),
                )
                sent += 1
                if sent % 50 == 0:
                    log.info("demo_intents_sent", count=sent)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0 / self.rate)
        finally:
            await producer.stop()
        return sent


async def run_demo(
    settings: Settings, *, rate: float, seed: int | None = None, limit: int | None = None
) -> int:
    """Run a ``DemoFeed`` until SIGINT/SIGTERM (or ``limit`` intents); returns how many."""
    import signal

    feed = DemoFeed(settings, rate=rate, seed=seed)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, feed.stop)
    return await feed.run(limit=limit)
