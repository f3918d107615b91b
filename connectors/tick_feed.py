"""``SimulatorFeed``: publishes the seeded simulator's ticks to ``md.ticks.v1`` at a set rate.

Keyed by instrument token (co-partitioned with ``paper.orders.v1``), through a batched
confluent-kafka producer (linger from settings). Pacing is cumulative: after ``t`` seconds
exactly ``floor(rate * t)`` ticks have been handed to the producer, so every second carries
``rate`` ticks (±1) whatever the per-tick cost; ``rate=0`` publishes as fast as possible.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from decimal import Decimal

import structlog
from confluent_kafka import KafkaError, Producer

from connectors.instruments import Instrument
from connectors.simulator import ticks
from schemas.codec import AvroCodec
from schemas.records import Tick
from streams.errors import BrokerUnavailable
from streams.kafka import confluent_producer_config
from streams.settings import Settings
from streams.topics import TICKS

__all__ = ["REFERENCE_PRICES", "SimulatorFeed"]

log = structlog.get_logger(__name__)

# Start near the demo feed's reference prices so that `tradepipe up`'s demo orders fill.
REFERENCE_PRICES = {
    "NSE:2885": Decimal(2900),
    "NSE:3045": Decimal(820),
    "NSE:1594": Decimal(1900),
}
_SLICE_S = 0.01


class SimulatorFeed:
    """Seeded ticks at ``rate`` per second until ``stop()``, ``duration`` or ``count``."""

    def __init__(
        self,
        settings: Settings,
        codec: AvroCodec,
        instruments: Iterable[Instrument],
        *,
        rate: float,
        seed: int,
        start_ns: int | None = None,
        topic: str = TICKS,
    ) -> None:
        self.settings = settings
        self.rate = rate
        self.seed = seed
        self.topic = topic
        self._instruments = list(instruments)
        self._encode = codec.encoder(topic, Tick)
        self._start_ns = start_ns
        self._stopping = threading.Event()
        self._error: KafkaError | None = None

    def stop(self) -> None:
        """Finish the current slice and return from ``run`` (safe from signal handlers)."""
        self._stopping.set()

    def _on_delivery(self, err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            self._error = err

    def run(self, *, duration: float | None = None, count: int | None = None) -> int:
        """Publish; returns how many ticks the broker acknowledged."""
        start_ns = self._start_ns if self._start_ns is not None else time.time_ns()
        step_ns = int(1e9 / self.rate) if self.rate > 0 else 1_000_000
        stream = ticks(
            self._instruments, self.seed, start_ns, step_ns, start_prices=REFERENCE_PRICES
        )
        producer = Producer(confluent_producer_config(self.settings, **{"linger.ms": 5}))
        encode, topic, on_delivery = self._encode, self.topic, self._on_delivery
        if duration is not None and self.rate > 0:
            cap = int(self.rate * duration)  # exactly `rate` a second for `duration` seconds
            count = cap if count is None else min(count, cap)
        sent = 0
        began = time.monotonic()
        try:
            while not self._stopping.is_set():
                elapsed = time.monotonic() - began
                if duration is not None and self.rate <= 0 and elapsed >= duration:
                    break
                target = int(self.rate * elapsed) + 1 if self.rate > 0 else sent + 1000
                if count is not None:
                    target = min(target, count)
                    if sent >= count:
                        break
                while sent < target:
                    tick = next(stream)
                    value = encode(tick)
                    key = tick.instrument_token.encode()
                    while True:
                        try:
                            producer.produce(topic, value, key, on_delivery=on_delivery)
                            break
                        except BufferError:  # local queue full: let deliveries drain
                            producer.poll(0.05)
                    sent += 1
                producer.poll(0)
                if self.rate > 0:
                    self._stopping.wait(_SLICE_S)
        finally:
            remaining = producer.flush(30)
        log.info("ticks_published", count=sent, seconds=round(time.monotonic() - began, 3))
        if remaining or self._error is not None:
            raise BrokerUnavailable(f"ticks not acknowledged: {self._error or remaining}")
        return sent
