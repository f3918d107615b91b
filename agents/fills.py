"""``apply_fills``: exec.fills.v1 → positions.v1 snapshots, the ``positions`` and ``orders``
tables and risk (``on_fill``); refused fills → audit.events.v1. Plus the mark timer.

Key: account id (fills, snapshots); positions are kept per ``account|EXCH:token``. Ordering
relied on: one account's fills in partition order; a fill may overtake its order's ROUTED
event (different topics), so it is kept in the order book and applied when ROUTED comes.

* Positions follow the venue's executions: every new fill (deduped by fill id) changes the
  position, and a ``PositionSnapshot`` is published after it. Fees come with the fill; a fill
  without one is priced by the fee model in settings (``agents.fees``).
* The order state takes the fill through ``agents.lifecycle.apply_fill``; a refused one
  (overfill, a fill on a DENIED order...) is audited and left out of the order state, but
  still counts in the position: the venue did execute it.
* Marks: every ``agents.mark_interval_s`` the worker re-marks the open positions it owns to
  the last traded price (``agents.prices``), publishes a snapshot for each changed one and
  re-marks risk exposure (``on_mark``). A timer, not every tick: snapshots stay bounded
  whatever the tick rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from typing import Any

import structlog

from agents import check_risk
from agents.context import WorkerContext
from agents.lifecycle import OrderState, apply_fill, refusal_reason
from agents.orders import OrderBook, audit_refusal, load_book
from agents.positions import Position, mark
from agents.positions import apply_fill as position_fill
from agents.risk import on_fill, on_mark
from agents.runtime import Batch, Incoming, batched_agent, new_batch, worker_lock
from schemas.records import Fill
from streams.errors import IllegalTransition
from streams.metrics import FILLS, STAGE_LATENCY
from streams.topics import FILLS as FILLS_TOPIC
from streams.topics import POSITIONS

__all__ = [
    "AGENT",
    "apply_early_fills",
    "mark_positions",
    "position_key",
    "register",
    "run_mark_timer",
]

AGENT = "apply_fills"
log = structlog.get_logger(__name__)


def position_key(account: str, exchange: str, token: str) -> str:
    """``ACC1|NSE:2885``: the positions table key."""
    return f"{account}|{exchange}:{token}"


def _flat(fill: Fill) -> Position:
    return Position(fill.account_id, fill.instrument_token, fill.exchange)


def _decode_position(data: dict[str, Any]) -> Position:
    return Position.from_dict(data)


def _encoder(partition: int) -> Any:
    def encode(position: Position) -> dict[str, Any]:
        return {**position.to_dict(), "partition": partition}

    return encode


def _order_fill(batch: Batch, book: OrderBook, state: OrderState, fill: Fill) -> OrderState:
    try:
        return apply_fill(state, fill)
    except IllegalTransition as err:
        audit_refusal(
            batch,
            "FILL",
            state,
            state.intent_id,
            state.account_id,
            refusal_reason(err),
            str(err),
            fill.trace_id,
            fill.fill_id,
        )
        return state


def apply_early_fills(batch: Batch, book: OrderBook, state: OrderState) -> OrderState:
    """Apply the fills that arrived before ``state``'s ROUTED event."""
    for raw in book.early_fills.pop(state.intent_id, ()):
        fill = Fill(
            fill_id=raw["fill_id"],
            intent_id=state.intent_id,
            broker_order_id=raw["broker_order_id"],
            account_id=state.account_id,
            instrument_token=state.instrument_token,
            exchange=state.exchange,
            side=state.side,
            quantity=int(raw["quantity"]),
            price=Decimal(raw["price"]),
        )
        state = _order_fill(batch, book, state, fill)
    return state


def register(ctx: WorkerContext) -> None:
    """Declare the agent and the mark timer on the worker's app."""
    positions = ctx.tables["positions"]
    closed_memory = ctx.pipeline.settings.agents.closed_memory
    latency = STAGE_LATENCY.labels(stage=AGENT)

    async def handle(items: Sequence[Incoming], batch: Batch) -> None:
        now = ctx.clock.now()
        now_ns = ctx.clock.now_ns()
        for item in items:
            fill: Fill = item.value
            account = fill.account_id
            pkey = position_key(account, fill.exchange, fill.instrument_token)
            position: Position = batch.load(positions, pkey, _decode_position, partial(_flat, fill))
            # every part dedupes by fill id on its own: a crash may have written one
            # table of the batch and not another, and the replay must finish the rest
            book = load_book(ctx, batch, account, item.partition)
            state = book.orders.get(fill.intent_id)
            first = state is None or state.filled_quantity == 0
            if state is None:
                early = book.early_fills.setdefault(fill.intent_id, [])
                if all(raw["fill_id"] != fill.fill_id for raw in early):
                    early.append(
                        {
                            "fill_id": fill.fill_id,
                            "broker_order_id": fill.broker_order_id,
                            "quantity": str(fill.quantity),
                            "price": str(fill.price),
                        }
                    )
            else:
                book.put(_order_fill(batch, book, state, fill), closed_memory)
                ctx.count_open(account, book.open_count)
            on_fill(check_risk.load_risk(ctx, batch, account, item.partition), fill, now_ns)
            updated = position_fill(position, fill, fee_model=ctx.fee_model, first_fill=first)
            if updated is position:
                continue  # a replayed fill: the position has it already
            last = ctx.prices.last(fill.exchange, fill.instrument_token)
            if last is not None:
                # marked now: the mark timer only revisits positions when prices move
                updated = mark(updated, last)
            batch.put(positions, pkey, item.partition, updated, _encoder(item.partition))
            batch.outbox.add(POSITIONS, account.encode(), updated.snapshot(created_at=now))
            FILLS.labels(venue=fill.venue).inc()
            latency.observe(max(now.timestamp() - fill.created_at.timestamp(), 0.0))

    batched_agent(ctx.pipeline, AGENT, FILLS_TOPIC, handle, ctx.producer)


async def mark_positions(ctx: WorkerContext, last_version: int) -> int:
    """Re-mark this worker's open positions to last prices; returns the price version used."""
    version = ctx.prices.version
    if version == last_version:
        return version
    app = ctx.pipeline.app
    positions = ctx.tables["positions"]
    owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == FILLS_TOPIC}
    now = ctx.clock.now()
    async with worker_lock(ctx.pipeline):
        batch = new_batch(ctx.pipeline, ctx.producer)
        for pkey, raw in list(positions.data.items()):
            partition = int(raw.get("partition", -1))
            if partition not in owned or not int(raw.get("quantity", 0)):
                continue
            account, instrument = pkey.split("|", 1)
            price = ctx.prices.get(instrument)
            if price is None or raw.get("last_price") == str(price):
                continue
            position = batch.load(positions, pkey, _decode_position, lambda: None)
            marked = mark(position, price)
            batch.put(positions, pkey, partition, marked, _encoder(partition))
            exchange, token = instrument.split(":", 1)
            on_mark(check_risk.load_risk(ctx, batch, account, partition), exchange, token, price)
            batch.outbox.add(POSITIONS, account.encode(), marked.snapshot(created_at=now))
        await batch.commit()
    return version


async def run_mark_timer(ctx: WorkerContext) -> None:
    """Mark positions every ``agents.mark_interval_s`` until cancelled."""
    interval = ctx.pipeline.settings.agents.mark_interval_s
    version = -1
    await ctx.ready.wait()
    while True:
        await asyncio.sleep(interval)
        version = await mark_positions(ctx, version)
