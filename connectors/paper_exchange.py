"""The pure matching core of the paper exchange: one ``PaperBook`` per instrument.

No I/O and no clock: orders, ticks and day-end times come in, ``OrderEvent`` and ``Fill``
records go out. The fill model (``docs/order-pipeline.md``):

* MARKET orders (and triggered STOPLOSS_MARKET) fill against the next tick: a BUY at the ask,
  a SELL at the bid, or the last price when the tick has no quote, moved against the order by
  ``slippage_bps`` and rounded to the tick size (up for BUY, down for SELL).
* LIMIT orders (and triggered STOPLOSS_LIMIT) rest and fill when the market crosses: a BUY
  when ask (or last) <= limit, at the better of the two; a SELL mirrors it.
* Stops trigger when the last price reaches the trigger (BUY: last >= trigger, SELL:
  last <= trigger) and may fill on that same tick.
* Each tick's ``volume`` is the liquidity that tick offers; it is shared across resting orders
  in time priority, so large orders fill partially over several ticks. Zero volume fills
  nothing.
* IOC orders: what is left after the first tick they are live for is cancelled.
* ``expire_day`` expires every order still working (DAY orders; an IOC that never saw a
  tick goes too).

Replays: an order id the book has seen is ignored by ``on_order``, and a tick not newer than
the last one processed is ignored by ``on_tick``, so re-delivered input produces no new
fills. Ids are deterministic (``fill_id(broker_order_id, n)``, ``event_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from connectors.fees import FeeModel, q4
from connectors.ids import event_id, fill_id, ns_to_datetime
from schemas.prices import round_to_tick
from schemas.records import (
    Duration,
    Exchange,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    Tick,
)

__all__ = [
    "CANCEL_REQUESTED",
    "DAY_END_EXPIRY",
    "DONE_MEMORY",
    "IOC_UNFILLED",
    "ORDER_NOT_FOUND",
    "PaperBook",
    "PaperConfig",
    "PaperOrder",
    "PaperResult",
]

# Reason codes (values of agents.reasons.ReasonCode; connectors cannot import agents).
CANCEL_REQUESTED = "CANCEL_REQUESTED"
IOC_UNFILLED = "IOC_UNFILLED"
DAY_END_EXPIRY = "DAY_END_EXPIRY"
ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
# finished order ids remembered so a replayed order is not booked twice
DONE_MEMORY = 4096

PaperResult = list[OrderEvent | Fill]
_BPS = Decimal(10_000)
_STOPS = frozenset({OrderType.STOPLOSS_LIMIT, OrderType.STOPLOSS_MARKET})
_MARKETS = frozenset({OrderType.MARKET, OrderType.STOPLOSS_MARKET})


@dataclass(frozen=True, slots=True)
class PaperConfig:
    """Paper-exchange behaviour: slippage on market fills and the fee model."""

    slippage_bps: Decimal = Decimal(0)
    fee_model: FeeModel = field(default_factory=FeeModel)
    venue: str = "paper"


@dataclass(slots=True)
class PaperOrder:
    """An order resting in a ``PaperBook``."""

    broker_order_id: str
    intent_id: str
    account_id: str
    client_order_id: str
    side: Side
    order_type: OrderType
    quantity: int
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    duration: Duration = Duration.DAY
    seq: int = 0
    filled: int = 0
    filled_notional: Decimal = Decimal(0)
    fills: int = 0
    triggered: bool = False
    trace_id: str = ""

    @classmethod
    def from_intent(cls, intent: OrderIntent, *, broker_order_id: str, seq: int) -> PaperOrder:
        """The venue order for an approved intent; ``seq`` is that of its ROUTED event."""
        return cls(
            broker_order_id=broker_order_id,
            intent_id=intent.intent_id,
            account_id=intent.account_id,
            client_order_id=intent.client_order_id,
            side=intent.side,
            order_type=intent.order_type,
            quantity=intent.quantity,
            price=intent.price or None,
            trigger_price=intent.trigger_price or None,
            duration=intent.duration,
            seq=seq,
            trace_id=intent.trace_id,
        )

    @property
    def leaves(self) -> int:
        """Quantity still to fill."""
        return self.quantity - self.filled

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = {name: getattr(self, name) for name in self.__slots__}
        for name in ("price", "trigger_price", "filled_notional"):
            d[name] = None if d[name] is None else str(d[name])
        for name in ("side", "order_type", "duration"):
            d[name] = d[name].value
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PaperOrder:
        """Inverse of ``to_dict``."""
        d = dict(data)
        for name in ("price", "trigger_price"):
            d[name] = None if d.get(name) is None else Decimal(d[name])
        d["filled_notional"] = Decimal(d.get("filled_notional") or "0")
        d["side"] = Side(d["side"])
        d["order_type"] = OrderType(d["order_type"])
        d["duration"] = Duration(d["duration"])
        return cls(**d)


class PaperBook:
    """Resting orders of one instrument, matched against that instrument's ticks."""

    __slots__ = (
        "_done",
        "config",
        "exchange",
        "instrument_token",
        "last_tick_ns",
        "orders",
        "tick_size",
    )

    def __init__(
        self,
        instrument_token: str,
        exchange: Exchange,
        tick_size: Decimal,
        config: PaperConfig | None = None,
    ) -> None:
        self.instrument_token = instrument_token
        self.exchange = exchange
        self.tick_size = tick_size
        self.config = config or PaperConfig()
        # insertion order is time priority
        self.orders: dict[str, PaperOrder] = {}
        self.last_tick_ns = -1
        # ordered set of finished order ids (a dict keeps insertion order, O(1) lookups)
        self._done: dict[str, None] = {}

    # -- input ---------------------------------------------------------------------------
    def on_order(self, order: PaperOrder, ts_ns: int) -> list[OrderEvent]:
        """Book an order: an ACCEPTED event (nothing for an id seen before)."""
        oid = order.broker_order_id
        if oid in self.orders or oid in self._done:
            return []
        self.orders[oid] = order
        return [self._event(order, OrderStatus.ACCEPTED, ts_ns)]

    def on_tick(self, tick: Tick) -> PaperResult:
        """Trigger, match and fill resting orders against one tick."""
        if tick.instrument_token != self.instrument_token:
            return []
        ts = tick.ts_event_ns
        if ts <= self.last_tick_ns or not self.orders:
            self.last_tick_ns = max(ts, self.last_tick_ns)
            return []
        self.last_tick_ns = ts
        results: PaperResult = []
        available = tick.volume
        last = tick.last_price
        for order in list(self.orders.values()):
            if order.order_type in _STOPS and not order.triggered:
                trigger = order.trigger_price
                if trigger is None or not (
                    last >= trigger if order.side is Side.BUY else last <= trigger
                ):
                    continue
                order.triggered = True
            price = self._match_price(order, tick)
            if price is not None and available > 0:
                qty = min(order.leaves, available)
                available -= qty
                results.extend(self._fill(order, qty, price, tick))
            if order.leaves and order.duration is Duration.IOC:
                results.append(self._close(order, OrderStatus.CANCELLED, ts, IOC_UNFILLED))
        return results

    def cancel(self, broker_order_id: str, ts_ns: int) -> tuple[list[OrderEvent], str | None]:
        """Cancel a working order: ``([CANCELLED event], None)``, or ``([], ORDER_NOT_FOUND)``."""
        order = self.orders.get(broker_order_id)
        if order is None:
            return [], ORDER_NOT_FOUND
        return [self._close(order, OrderStatus.CANCELLED, ts_ns, CANCEL_REQUESTED)], None

    def expire_day(self, ts_ns: int) -> list[OrderEvent]:
        """Expire every order still working at the end of the trading day (DAY orders, and
        IOC orders that never saw a tick)."""
        return [
            self._close(order, OrderStatus.EXPIRED, ts_ns, DAY_END_EXPIRY)
            for order in list(self.orders.values())
        ]

    # -- matching ------------------------------------------------------------------------
    def _match_price(self, order: PaperOrder, tick: Tick) -> Decimal | None:
        buy = order.side is Side.BUY
        market = (tick.ask if buy else tick.bid) or tick.last_price
        if order.order_type in _MARKETS:
            bps = self.config.slippage_bps
            if not bps:
                return market
            factor = (_BPS + bps if buy else _BPS - bps) / _BPS
            slipped = round_to_tick(
                market * factor, self.tick_size, ROUND_CEILING if buy else ROUND_FLOOR
            )
            return max(slipped, self.tick_size)
        limit = order.price
        if limit is None:
            return None
        if buy:
            return min(limit, market) if market <= limit else None
        return max(limit, market) if market >= limit else None

    def _fill(self, order: PaperOrder, qty: int, price: Decimal, tick: Tick) -> PaperResult:
        ts = tick.ts_event_ns
        notional = price * qty
        fee = self.config.fee_model.fee(notional, first_fill=order.fills == 0)
        order.fills += 1
        order.filled += qty
        order.filled_notional += notional
        fill = Fill(
            fill_id=fill_id(order.broker_order_id, order.fills),
            intent_id=order.intent_id,
            broker_order_id=order.broker_order_id,
            account_id=order.account_id,
            instrument_token=self.instrument_token,
            exchange=self.exchange,
            side=order.side,
            quantity=qty,
            price=price,
            fee=fee,
            venue=self.config.venue,
            ts_event_ns=ts,
            created_at=ns_to_datetime(ts),
            trace_id=order.trace_id,
        )
        if order.leaves == 0:
            status = OrderStatus.FILLED
            self._retire(order)
        else:
            status = OrderStatus.PARTIALLY_FILLED
        return [fill, self._event(order, status, ts)]

    def _close(self, order: PaperOrder, status: OrderStatus, ts_ns: int, code: str) -> OrderEvent:
        self._retire(order)
        return self._event(order, status, ts_ns, code)

    def _retire(self, order: PaperOrder) -> None:
        del self.orders[order.broker_order_id]
        self._done[order.broker_order_id] = None
        if len(self._done) > DONE_MEMORY:
            del self._done[next(iter(self._done))]

    def _event(
        self, order: PaperOrder, status: OrderStatus, ts_ns: int, code: str | None = None
    ) -> OrderEvent:
        order.seq += 1
        working = status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
        return OrderEvent(
            event_id=event_id(order.intent_id, status, order.seq),
            intent_id=order.intent_id,
            account_id=order.account_id,
            client_order_id=order.client_order_id,
            instrument_token=self.instrument_token,
            exchange=self.exchange,
            side=order.side,
            status=status,
            seq=order.seq,
            quantity=order.quantity,
            filled_quantity=order.filled,
            leaves_quantity=order.leaves if working else 0,
            price=order.price,
            avg_fill_price=q4(order.filled_notional / order.filled) if order.filled else None,
            reason_code=code,
            reason=None,
            venue=self.config.venue,
            broker_order_id=order.broker_order_id,
            stage="venue",
            created_at=ns_to_datetime(ts_ns),
            trace_id=order.trace_id,
        )

    # -- state ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the Faust table value / Postgres copy)."""
        return {
            "instrument_token": self.instrument_token,
            "exchange": self.exchange.value,
            "tick_size": str(self.tick_size),
            "config": {
                "slippage_bps": str(self.config.slippage_bps),
                "fee_model": self.config.fee_model.to_dict(),
                "venue": self.config.venue,
            },
            "orders": [o.to_dict() for o in self.orders.values()],
            "last_tick_ns": self.last_tick_ns,
            "done": list(self._done),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PaperBook:
        """Inverse of ``to_dict``."""
        cfg = data["config"]
        book = cls(
            data["instrument_token"],
            Exchange(data["exchange"]),
            Decimal(data["tick_size"]),
            PaperConfig(
                slippage_bps=Decimal(cfg["slippage_bps"]),
                fee_model=FeeModel.from_dict(cfg["fee_model"]),
                venue=cfg["venue"],
            ),
        )
        for raw in data["orders"]:
            order = PaperOrder.from_dict(raw)
            book.orders[order.broker_order_id] = order
        book.last_tick_ns = int(data["last_tick_ns"])
        book._done = dict.fromkeys(data["done"])
        return book
