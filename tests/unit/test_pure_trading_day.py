"""A scripted trading day through the pure functions only (validate -> risk -> lifecycle ->
paper exchange -> positions), ending at positions and P&L computed by hand.

This is the composition the Faust agents wire up; it doubles as a reference for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from agents.lifecycle import OrderState, apply_fill
from agents.positions import Position, mark
from agents.positions import apply_fill as position_fill
from agents.reasons import ReasonCode
from agents.risk import (
    GLOBAL_ACCOUNT,
    AccountRisk,
    RiskLimits,
    apply_control,
    check_order,
    limits_for,
    on_approved,
    on_fill,
    on_order_closed,
)
from agents.validation import enrich, validate
from connectors.fees import FeeModel
from connectors.ids import paper_order_id
from connectors.instruments import InstrumentMaster
from connectors.paper_exchange import PaperBook, PaperConfig, PaperOrder
from schemas.records import (
    Exchange,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Tick,
    TradingState,
)
from tests.factories import FIXED_NS, make_command, make_intent, make_tick

D = Decimal
TODAY = date(2026, 11, 21)
FEES = FeeModel(bps=D("1"), fixed_per_order=D(0), minimum=D(0))


@dataclass
class Pipeline:
    master: InstrumentMaster = field(default_factory=InstrumentMaster.sample)
    limits: RiskLimits = field(default_factory=RiskLimits)
    risk: dict[str, AccountRisk] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)
    orders: dict[str, OrderState] = field(default_factory=dict)
    books: dict[str, PaperBook] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    last: dict[str, Decimal] = field(default_factory=dict)
    outcomes: dict[str, ReasonCode | OrderStatus] = field(default_factory=dict)
    now: int = FIXED_NS

    def account(self, acct: str) -> AccountRisk:
        return self.risk.setdefault(acct, AccountRisk(acct))

    def submit(self, intent: OrderIntent) -> ReasonCode | None:
        self.now += 1_000_000
        state = OrderState.from_intent(intent)
        inst = self.master.find(intent.exchange, intent.instrument_token)
        seen = self.seen.setdefault(intent.account_id, set())
        code = validate(intent, inst, today=TODAY, seen_client_order_ids=seen)
        if code is not None or inst is None:
            self.orders[intent.intent_id] = state.advance(OrderStatus.REJECTED)
            self.outcomes[intent.intent_id] = code or ReasonCode.UNKNOWN_INSTRUMENT
            return code
        seen.add(intent.client_order_id)
        intent = enrich(intent, inst)
        state = state.advance(OrderStatus.VALIDATED)
        acct = self.account(intent.account_id)
        last = self.last.get(inst.key)
        code = check_order(
            intent,
            acct,
            limits_for(acct, self.limits),
            self.now,
            last,
            global_state=self.account(GLOBAL_ACCOUNT).trading_state,
        )
        if code is not None:
            self.orders[intent.intent_id] = state.advance(OrderStatus.DENIED)
            self.outcomes[intent.intent_id] = code
            return code
        on_approved(acct, intent, self.now, last)
        boid = paper_order_id(intent.intent_id)
        state = state.advance(OrderStatus.APPROVED).advance(
            OrderStatus.ROUTED, broker_order_id=boid
        )
        self.orders[intent.intent_id] = state
        book = self.books.setdefault(
            inst.key,
            PaperBook(inst.token, inst.exchange, inst.tick_size, PaperConfig(fee_model=FEES)),
        )
        order = PaperOrder.from_intent(intent, broker_order_id=boid, seq=state.seq)
        self._apply(book.on_order(order, self.now))
        return None

    def tick(self, tick: Tick) -> None:
        key = f"{tick.exchange}:{tick.instrument_token}"
        self.last[key] = tick.last_price
        book = self.books.get(key)
        if book is not None:
            self._apply(book.on_tick(tick))
        for pkey, pos in self.positions.items():
            if pkey.endswith(key):
                self.positions[pkey] = mark(pos, tick.last_price)

    def _apply(self, results: Sequence[OrderEvent | Fill]) -> None:
        for r in results:
            state = self.orders[r.intent_id]
            if isinstance(r, Fill):
                self.orders[r.intent_id] = apply_fill(state, r)
                on_fill(self.account(r.account_id), r)
                pkey = f"{r.account_id}|{r.exchange}:{r.instrument_token}"
                pos = self.positions.get(pkey) or Position(
                    r.account_id, r.instrument_token, r.exchange
                )
                self.positions[pkey] = position_fill(pos, r)
            elif r.status in (OrderStatus.ACCEPTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED):
                self.orders[r.intent_id] = state.advance(r.status)
                if r.status is not OrderStatus.ACCEPTED:
                    on_order_closed(self.account(r.account_id), r.intent_id)
            self.outcomes[r.intent_id] = self.orders[r.intent_id].status


def test_scripted_day_ends_with_hand_computed_positions_and_pnl() -> None:
    p = Pipeline()
    rel = "NSE:2885"
    t = FIXED_NS

    def tick(n: int, last: str, bid: str, ask: str, volume: int = 100) -> None:
        p.tick(
            make_tick(
                ts_event_ns=t + n * 10**9,
                last_price=D(last),
                bid=D(bid),
                ask=D(ask),
                volume=volume,
            )
        )

    tick(0, "2450.00", "2449.95", "2450.05")
    # 1. market buy 10: fills on the next tick at the ask 2450.05, fee 2.45
    assert p.submit(make_intent(intent_id="m1", order_type=OrderType.MARKET, price=None)) is None
    tick(1, "2450.00", "2449.95", "2450.05")
    # 2. rejections of every validation kind we script
    assert p.submit(make_intent(intent_id="r1", quantity=0)) is ReasonCode.QTY_NOT_POSITIVE
    assert p.submit(make_intent(intent_id="r2", client_order_id="c-m1")) is (
        ReasonCode.DUPLICATE_CLIENT_ORDER_ID
    )
    expired = make_intent(
        intent_id="r3",
        exchange=Exchange.NFO,
        instrument_token="35012",
        quantity=75,
        product=Product.CARRYFORWARD,
        price=D("24000.00"),
    )
    assert p.submit(expired) is ReasonCode.DERIVATIVE_EXPIRED
    assert p.submit(make_intent(intent_id="r4", price=D("3000.00"))) is ReasonCode.FAT_FINGER
    # 3. buy 150 limit 2455: volume 100 per tick -> 100 then 50, at the ask 2452.00
    assert p.submit(make_intent(intent_id="l1", quantity=150, price=D("2455.00"))) is None
    tick(2, "2452.00", "2451.95", "2452.00")
    assert p.orders["l1"].filled_quantity == 100
    tick(3, "2452.00", "2451.95", "2452.00")
    assert p.orders["l1"].status is OrderStatus.FILLED
    # 4. sell 60 limit 2460 fills when the bid reaches it
    sell = make_intent(intent_id="s1", side=Side.SELL, quantity=60, price=D("2460.00"))
    assert p.submit(sell) is None
    tick(4, "2460.00", "2460.00", "2460.05")
    # 5. kill switch: halt globally, an order is denied; resume, and a resting order cancels
    assert apply_control(p.account(GLOBAL_ACCOUNT), make_command(account_id="*"), p.limits) is None
    assert p.submit(make_intent(intent_id="k1")) is ReasonCode.TRADING_HALTED
    p.account(GLOBAL_ACCOUNT).trading_state = TradingState.ACTIVE
    assert p.submit(make_intent(intent_id="d1", price=D("2400.00"))) is None
    p._apply(p.books[rel].expire_day(t + 5 * 10**9))
    assert p.outcomes["d1"] is OrderStatus.EXPIRED
    tick(6, "2470.00", "2469.95", "2470.05")

    # hand computation
    # buys: 10 @ 2450.05 = 24,500.50 ; 150 @ 2452.00 = 367,800.00 -> 160 cost 392,300.50
    # sell 60 @ 2460.00 releases 60/160 of the cost = 147,112.6875 -> realised 487.3125
    # open 100, cost 245,187.8125 ; marked at 2470.00 -> unrealised 1,812.1875
    # fees (1 bp per fill, rounded to the paisa): 2.45 + 24.52 + 12.26 + 14.76 = 53.99
    pos = p.positions[f"ACC1|{rel}"]
    assert pos.quantity == 100
    assert pos.cost == D("245187.8125")
    assert pos.realised_pnl == D("487.3125")
    assert pos.unrealised_pnl == D("1812.1875")
    assert pos.fees == D("53.99")
    snap = pos.snapshot(created_at=make_tick().created_at)
    assert snap.avg_price == D("2451.8781")
    # risk agrees: no open orders left, today's net realised = 487.3125 - 53.99
    acct = p.account("ACC1")
    assert acct.open_orders == {}
    assert acct.realised_today == D("433.3225")
    assert acct.instruments[rel].quantity == 100
    assert {k: v for k, v in p.outcomes.items() if isinstance(v, ReasonCode)} == {
        "r1": ReasonCode.QTY_NOT_POSITIVE,
        "r2": ReasonCode.DUPLICATE_CLIENT_ORDER_ID,
        "r3": ReasonCode.DERIVATIVE_EXPIRED,
        "r4": ReasonCode.FAT_FINGER,
        "k1": ReasonCode.TRADING_HALTED,
    }
