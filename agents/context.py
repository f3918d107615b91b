"""What every agent of one worker shares: tables, the outbox producer, the instrument master,
last prices, the global kill switch, venues and the fee model.

Tables (Faust, memory store, recovered from their changelogs; JSON values; one write per key
per batch, on the partition of the input record that changed it):

| table | key | value | written by |
|---|---|---|---|
| ``validation`` | account | seen intent ids, today's client order ids | validate stage |
| ``risk`` | account | ``AccountRisk.to_dict()`` | risk stage, fills, events, controls |
| ``routed`` | account | intent id -> broker order id (bounded) | route stage |
| ``orders`` | account | ``OrderBook``: open / recently closed orders | events, fills |
| ``positions`` | ``account|EXCH:token`` | ``Position.to_dict()`` + partition | fills, marks |

Every order-side topic is keyed by account with the same partition count, so the worker
that owns partition p of the intents owns partition p of fills, events and these tables.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import structlog

from agents.prices import PriceBook
from agents.risk import GLOBAL_ACCOUNT, AccountRisk, RiskLimits, apply_control
from agents.runtime import Outbox, OutboxProducer
from connectors.base import PaperVenue, Venue
from connectors.fees import FeeModel
from connectors.instruments import InstrumentMaster, RedisInstrumentCache
from schemas.records import ControlCommand, Record, TradingState
from streams.app import Pipeline
from streams.clock import Clock
from streams.errors import StoreUnavailable
from streams.metrics import KILL_SWITCH_STATE, ORDERS_IN_FLIGHT

__all__ = ["TABLES", "GlobalSwitch", "LatePublisher", "WorkerContext", "build_context"]

log = structlog.get_logger(__name__)

TABLES = ("validation", "risk", "routed", "orders", "positions")
_STATE_GAUGE = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class LatePublisher:
    """Lets a connector publish through the current batch's outbox, in its late phase."""

    def __init__(self) -> None:
        self.outbox: Outbox | None = None

    def __call__(self, topic: str, key: bytes, record: Record) -> None:
        assert self.outbox is not None, "publish outside a batch"
        self.outbox.add_late(topic, key, record)


@dataclass
class GlobalSwitch:
    """The global (``"*"``) risk state of this worker, fed by every ``"*"`` control command.

    Commands are applied in offset order: the broadcast reader (from the beginning) and the
    group agent (which owns the ``"*"`` partition) may both deliver one; older ones are skipped.
    """

    state: AccountRisk = field(default_factory=lambda: AccountRisk(GLOBAL_ACCOUNT))
    applied: dict[int, int] = field(default_factory=dict)

    def apply(
        self, command: ControlCommand, partition: int, offset: int, limits: RiskLimits
    ) -> bool:
        """Apply a ``"*"`` command once; False when it was applied before (or is older)."""
        if offset <= self.applied.get(partition, -1):
            return False
        self.applied[partition] = offset
        apply_control(self.state, command, limits)
        KILL_SWITCH_STATE.set(_STATE_GAUGE[self.state.trading_state])
        return True

    @property
    def trading_state(self) -> TradingState:
        """ACTIVE / REDUCING / HALTED for every account."""
        return self.state.trading_state


@dataclass
class WorkerContext:
    """Shared by the agents of one worker process."""

    pipeline: Pipeline
    producer: OutboxProducer
    tables: dict[str, Any]
    limits: RiskLimits
    fee_model: FeeModel
    prices: PriceBook
    switch: GlobalSwitch
    publisher: LatePublisher
    venues: dict[str, Venue]
    clock: Clock
    instruments: InstrumentMaster = field(default_factory=InstrumentMaster)
    # set once instruments, the kill switch and prices are loaded; intents wait for it
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    pending: set[str] = field(default_factory=lambda: {"instruments", "control", "prices"})
    # open (routed, not closed) orders per account this worker has seen: orders in flight
    open_orders: dict[str, int] = field(default_factory=dict)

    def count_open(self, account: str, count: int) -> None:
        """Record an account's open orders and update ``tradepipe_orders_in_flight``."""
        self.open_orders[account] = count
        ORDERS_IN_FLIGHT.set(sum(self.open_orders.values()))

    def loaded(self, what: str) -> None:
        """Mark one start-up load done; the last one opens the gate."""
        self.pending.discard(what)
        if not self.pending:
            self.ready.set()
            log.info("worker_ready")

    def venue_for(self, account_id: str) -> Venue | None:
        """The venue configured for ``account_id`` (None: not configured)."""
        conf = self.pipeline.settings.agents
        return self.venues.get(conf.venues.get(account_id, conf.default_venue))

    async def load_instruments(self) -> None:
        """Warm the instrument master from Redis (or the shipped sample, stored to Redis)."""
        settings = self.pipeline.settings
        url = settings.redis.url.get_secret_value()
        cache = RedisInstrumentCache.from_url(url, settings.redis.key_prefix)
        try:
            self.instruments = await cache.warm(self.clock.trading_day())
            source = "redis"
        except StoreUnavailable as exc:
            log.warning("instrument_cache_unavailable", error=str(exc))
            self.instruments = InstrumentMaster.sample(self.clock.trading_day())
            source = "file"
        finally:
            with contextlib.suppress(StoreUnavailable, OSError):
                await cache.stop()
        log.info("instruments_loaded", count=len(self.instruments), source=source)
        self.loaded("instruments")


def _table(pipeline: Pipeline, name: str) -> Any:
    return pipeline.app.Table(
        name,
        default=None,
        key_type=str,
        partitions=pipeline.settings.kafka.partitions,
    )


def build_context(pipeline: Pipeline) -> WorkerContext:
    """Declare the tables and build the shared context (nothing connects yet)."""
    settings = pipeline.settings
    fees = settings.agents.fees
    publisher = LatePublisher()
    return WorkerContext(
        pipeline=pipeline,
        producer=OutboxProducer(pipeline),
        tables={name: _table(pipeline, name) for name in TABLES},
        limits=RiskLimits.from_settings(settings.risk),
        fee_model=FeeModel(
            bps=fees.bps, fixed_per_order=fees.fixed_per_order, minimum=fees.minimum
        ),
        prices=PriceBook(),
        switch=GlobalSwitch(),
        publisher=publisher,
        venues={"paper": PaperVenue(publisher)},
        clock=Clock.from_settings(settings.clock),
    )
