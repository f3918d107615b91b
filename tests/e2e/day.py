"""A scripted trading day through real ``tradepipe worker`` and ``tradepipe paper`` processes.

``TradingDay.run()`` publishes ticks, intents and control commands step by step and waits
for each step's outcome on the output topics. ``kill_after`` names steps after whose input
the worker is killed with SIGKILL and restarted at once; ``after_step`` (if set) is awaited
after each of the day's parts with the part's name, so a test can pause the day there (and,
say, lose the broker: ``disconnect`` first; the readers then read the new one). The expected
figures are computed by hand in ``EXPECTED`` (fees: the paper exchange's default 3 bps per
fill, to the paisa).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.records import (
    AuditEvent,
    CommandKind,
    ControlCommand,
    Exchange,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionSnapshot,
    Side,
    Tick,
    TradingState,
    utcnow,
)
from tests.e2e.day_data import EXPECTED, REJECTIONS, RELIANCE
from tests.factories import make_intent
from tests.harness import TradepipeProcess, produce
from tests.paper.helpers import TopicReader

__all__ = ["EXPECTED", "TradingDay", "worker_log"]

D = Decimal
_seq = itertools.count(1)


def _intent(account: str, **overrides: Any) -> OrderIntent:
    n = next(_seq)
    fields: dict[str, Any] = {
        "intent_id": f"{account}-i{n}",
        "client_order_id": f"{account}-c{n}",
        "account_id": account,
        "price": D("2300.00"),
        "quantity": 1,
        "created_at": utcnow(),
        "trace_id": f"tr-{account}-{n}",
    }
    fields.update(overrides)
    return make_intent(**fields)


def _market(account: str, side: Side, quantity: int, **overrides: Any) -> OrderIntent:
    return _intent(
        account, side=side, quantity=quantity, order_type=OrderType.MARKET, price=None, **overrides
    )


@dataclass
class TradingDay:
    """Drives one day; ``start_worker`` builds (and starts) a fresh worker process."""

    bootstrap: str
    start_worker: Callable[[], TradepipeProcess]
    kill_after: set[str] = field(default_factory=set)
    after_step: Callable[[str], Awaitable[None]] | None = None
    timeout: float = 90.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    worker: TradepipeProcess | None = None
    kills: int = 0
    decisions: dict[str, OrderEvent] = field(default_factory=dict)
    expect: dict[str, str] = field(default_factory=dict)
    latest: dict[tuple[str, str], PositionSnapshot] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.events = TopicReader(self.bootstrap, "orders.events.v1", OrderEvent)
        self.fills = TopicReader(self.bootstrap, "exec.fills.v1", Fill)
        self.audit = TopicReader(self.bootstrap, "audit.events.v1", AuditEvent)
        self.positions = TopicReader(self.bootstrap, "positions.v1", PositionSnapshot)
        self.paper_orders = TopicReader(self.bootstrap, "paper.orders.v1", OrderIntent)
        self._ts = time.time_ns()

    # -- inputs ----------------------------------------------------------------------------
    async def _maybe_kill(self, step: str) -> None:
        if step not in self.kill_after or self.worker is None:
            return
        await asyncio.sleep(self.rng.uniform(0.0, 0.4))
        self.worker.kill()
        self.kills += 1
        self.worker = self.start_worker()

    async def tick(self, last: str, volume: int, step: str = "") -> None:
        self._ts = max(self._ts + 1_000, time.time_ns())
        price = D(last)
        tick = Tick(
            instrument_token=RELIANCE,
            exchange=Exchange.NSE,
            ts_event_ns=self._ts,
            last_price=price,
            bid=price - D("0.05"),
            ask=price + D("0.05"),
            volume=volume,
        )
        await produce(self.bootstrap, "md.ticks.v1", [tick], key_field="instrument_token")
        await self._maybe_kill(step)

    async def send(self, *intents: OrderIntent, step: str = "") -> list[OrderEvent]:
        """Publish intents; wait for each one's decision (REJECTED/DENIED/ROUTE_FAILED/ROUTED)."""
        await produce(self.bootstrap, "orders.intents.v1", intents)
        await self._maybe_kill(step)
        finals = {
            OrderStatus.REJECTED,
            OrderStatus.DENIED,
            OrderStatus.ROUTE_FAILED,
            OrderStatus.ROUTED,
        }
        ids = {i.intent_id for i in intents}

        def decided() -> bool:
            for e in self.events.records():
                if e.intent_id in ids and e.status in finals and e.stage != "venue":
                    self.decisions[e.intent_id] = e
            return ids <= set(self.decisions)

        await self._wait(self.events, decided)
        return [self.decisions[i.intent_id] for i in intents]

    async def command(self, account: str, step: str = "", **fields: Any) -> AuditEvent:
        """Publish a control command; wait for its audit event."""
        command = ControlCommand(
            command_id=f"cmd-{next(_seq)}", account_id=account, actor="ops", **fields
        )
        await produce(self.bootstrap, "control.commands.v1", [command])
        await self._maybe_kill(step)

        def audited() -> bool:
            return any(
                a.details.get("command_id") == command.command_id for a in self.audit.records()
            )

        await self._wait(self.audit, audited)
        return next(
            a for a in self.audit.records() if a.details.get("command_id") == command.command_id
        )

    async def cancel(self, account: str, order: OrderIntent) -> None:
        """CANCEL_ORDER until the venue cancels ``order``; then the account can trade again
        (risk released the open order): an intent is approved within a few tries."""
        for _ in range(10):
            audit = await self.command(
                account, command=CommandKind.CANCEL_ORDER, intent_id=order.intent_id
            )
            if audit.outcome == "applied":
                break
            await asyncio.sleep(1)  # the worker has not seen ROUTED yet
        await self._wait(
            self.events,
            lambda: any(
                e.intent_id == order.intent_id and e.status is OrderStatus.CANCELLED
                for e in self.events.records()
            ),
        )
        for _ in range(10):
            (event,) = await self.send(_intent(account))
            if event.status is OrderStatus.ROUTED:
                return
            await asyncio.sleep(1)  # the worker has not applied CANCELLED yet
        raise AssertionError(f"{account}: still denied after cancelling {order.intent_id}")

    async def accepted(self, intent: OrderIntent) -> None:
        """Wait until the paper exchange booked ``intent``."""
        await self._wait(
            self.events,
            lambda: any(
                e.intent_id == intent.intent_id and e.stage == "venue"
                for e in self.events.records()
            ),
        )

    async def filled(self, intent: OrderIntent, quantity: int) -> None:
        """Wait until ``quantity`` of ``intent`` has filled."""

        def done() -> bool:
            got = {
                f.fill_id: f.quantity
                for f in self.fills.records()
                if f.intent_id == intent.intent_id
            }
            return sum(got.values()) >= quantity

        await self._wait(self.fills, done)

    async def _wait(self, reader: TopicReader, predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.timeout
        while not predicate():
            assert time.monotonic() < deadline, f"{reader.topic}: step not done in {self.timeout}s"
            await reader.poll()

    # -- the day ---------------------------------------------------------------------------
    async def run(self) -> dict[str, str]:
        """Play the day; returns intent id -> expected decision code (or status)."""
        expect: dict[str, str] = {}

        async def check(intents: list[OrderIntent], codes: list[str], step: str) -> None:
            events = await self.send(*intents, step=step)
            for intent, event, code in zip(intents, events, codes, strict=True):
                got = event.reason_code or event.status.value
                assert got == code, f"{step}: {intent.intent_id} {got} != {code}"
                expect[intent.intent_id] = code

        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        add = steps.append

        # validation refusals, and a duplicate client order id
        async def validation() -> None:
            rejected = [_intent("RJ", **kw) for kw in REJECTIONS.values()]
            await check(rejected, list(REJECTIONS), "gallery")
            ok = _intent("RJ", client_order_id="RJ-dup")
            await check([ok], ["ROUTED"], "validation_ok")
            await check(
                [_intent("RJ", client_order_id="RJ-dup")], ["DUPLICATE_CLIENT_ORDER_ID"], "dup"
            )

        add(("validation", validation))

        async def risk() -> None:
            await check(
                [
                    _market("RK1", Side.BUY, 1, instrument_token="1594"),
                    _intent("RK1", price=D("3000.00")),
                    _intent("RK1", quantity=2100, price=D("2400.00")),
                ],
                ["NO_REFERENCE_PRICE", "FAT_FINGER", "MAX_NOTIONAL"],
                "risk_simple",
            )
            await self.command(
                "RK2", command=CommandKind.SET_LIMITS, limits={"max_open_orders": "1"}
            )
            bad = await self.command(
                "RK2", command=CommandKind.SET_LIMITS, limits={"max_open_orders": "lots"}
            )
            assert bad.outcome == "refused" and bad.details["refused"] == "INVALID_LIMITS"
            resting = _intent("RK2")
            await check([resting], ["ROUTED"], "open1")
            await self.accepted(resting)
            await check([_intent("RK2")], ["MAX_OPEN_ORDERS"], "open2")
            await self.cancel("RK2", resting)
            await self.command(
                "RK3", command=CommandKind.SET_LIMITS, limits={"max_orders_per_second": "1"}
            )
            await check([_intent("RK3"), _intent("RK3")], ["ROUTED", "RATE_LIMITED"], "rate")
            await self.command(
                "RK4",
                command=CommandKind.SET_LIMITS,
                limits={"max_position_qty": "5", "max_gross_exposure": "1000"},
            )
            await check(
                [_intent("RK4", quantity=10), _intent("RK4")],
                ["MAX_POSITION", "MAX_GROSS_EXPOSURE"],
                "position_gross",
            )
            await check([_intent("ACC8")], ["NO_VENUE"], "no_venue")

        add(("risk", risk))

        async def trade_open() -> None:
            buy = _market("ACC1", Side.BUY, 100)
            await check([buy], ["ROUTED"], "buy100")
            await self.accepted(buy)
            await self.tick("2450.00", 40, step="partial1")
            await self.filled(buy, 40)
            await self.tick("2450.00", 40, step="partial2")
            await self.filled(buy, 80)
            await self.tick("2450.00", 1000)
            await self.filled(buy, 100)
            sell = _intent("ACC1", side=Side.SELL, quantity=100, price=D("2440.00"))
            await check([sell], ["ROUTED"], "sell100")
            await self.accepted(sell)
            await self.tick("2445.00", 1000, step="sell_fill")
            await self.filled(sell, 100)

        add(("trade_open", trade_open))

        async def loss_limit() -> None:
            await self.command(
                "ACC1", command=CommandKind.SET_LIMITS, limits={"max_daily_loss": "500"}
            )
            await check([_intent("ACC1", price=D("2445.00"))], ["DAILY_LOSS_LIMIT"], "loss")
            await self.command(
                "ACC1", command=CommandKind.SET_LIMITS, limits={"max_daily_loss": ""}
            )
            buy = _market("ACC1", Side.BUY, 50)
            await check([buy], ["ROUTED"], "buy50")
            await self.accepted(buy)
            await self.tick("2446.00", 1000, step="buy50_fill")
            await self.filled(buy, 50)

        add(("loss_limit", loss_limit))

        async def reducing() -> None:
            switch = await self.command(
                "ACC1",
                step="reducing_cmd",
                command=CommandKind.SET_TRADING_STATE,
                trading_state=TradingState.REDUCING,
            )
            assert switch.details["to"] == "REDUCING"
            await check(
                [_intent("ACC1", quantity=10, price=D("2446.00"))], ["REDUCING_ONLY"], "red"
            )
            sell = _market("ACC1", Side.SELL, 20)
            await check([sell], ["ROUTED"], "sell20")
            await self.accepted(sell)
            await self.tick("2447.00", 1000)
            await self.filled(sell, 20)
            await self.command(
                "ACC1", command=CommandKind.SET_TRADING_STATE, trading_state=TradingState.ACTIVE
            )

        add(("reducing", reducing))

        async def kill_switch() -> None:
            halt = await self.command(
                "*", command=CommandKind.SET_TRADING_STATE, trading_state=TradingState.HALTED
            )
            assert halt.action == "set_trading_state" and halt.details["to"] == "HALTED"
            await check([_market("ACC2", Side.BUY, 10)], ["TRADING_HALTED"], "halted")
            await self.command(
                "*",
                step="resume",
                command=CommandKind.SET_TRADING_STATE,
                trading_state=TradingState.ACTIVE,
            )
            buy = _market("ACC2", Side.BUY, 10)
            await check([buy], ["ROUTED"], "acc2_buy")
            await self.accepted(buy)
            await self.tick("2448.00", 1000, step="acc2_fill")
            await self.filled(buy, 10)
            await self.tick("2450.00", 0)

        add(("kill_switch", kill_switch))

        for name, step in steps:
            await step()
            await self._maybe_kill(name)
            if self.after_step is not None:
                await self.after_step(name)
        return expect

    async def final_positions(self) -> dict[tuple[str, str], PositionSnapshot]:
        """Wait until the latest snapshots match ``EXPECTED`` (or time out); return them."""
        want = EXPECTED
        latest: dict[tuple[str, str], PositionSnapshot] = {}

        def matches() -> bool:
            for s in self.positions.records():
                latest[(s.account_id, s.instrument_token)] = s
            return all(k in latest and _figures(latest[k]) == v for k, v in want.items())

        with contextlib.suppress(AssertionError):  # the caller asserts figure by figure
            await self._wait(self.positions, matches)
        return latest

    def readers(self) -> list[TopicReader]:
        """The day's output readers."""
        return [self.events, self.fills, self.audit, self.positions, self.paper_orders]

    async def disconnect(self) -> None:
        """Before the broker is replaced: drop the readers' consumers, keep what they read; the
        next poll reads the new broker's topics from the start. (A consumer left connected to
        the old address would make the new embedded broker auto-create its topics with 4
        partitions before ``restore`` could create them, docs/embedded-broker.md #4.)"""
        for reader in self.readers():
            await reader.disconnect()

    async def close(self) -> None:
        for reader in (self.events, self.fills, self.audit, self.positions, self.paper_orders):
            await reader.close()


def _figures(s: PositionSnapshot) -> tuple[int, Decimal, Decimal, Decimal, Decimal]:
    avg = s.avg_price if s.avg_price is not None else D(0)
    return (s.quantity, avg, s.realised_pnl, s.fees, s.unrealised_pnl)


def worker_log(path: Path) -> str:
    """The tail of a worker log (assertion messages)."""
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""
