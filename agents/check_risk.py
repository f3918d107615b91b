"""``check_risk``: orders.validated.v1 → orders.approved.v1 (+ APPROVED / DENIED on
orders.events.v1). A stage of the ``validate_intents`` agent (same partition, same batch).

Key: account id. Ordering relied on: one account's intents in partition order; its fills,
closing events and control commands arrive on other topics of the same partition number and
are applied by ``apply_fills``, ``apply_order_events`` and ``apply_controls`` to the same
``risk`` table (the worker lock keeps each batch's read-decide-write whole).

State: ``AccountRisk`` per account (``agents.risk``); the global kill switch is
``ctx.switch`` (fed to every worker, see ``agents.control``); last prices come from
``ctx.prices`` (every worker follows every tick partition, see ``agents.prices``). The
decision time is the batch's processing time (one clock read per batch).
"""

from __future__ import annotations

from datetime import datetime

from agents.context import WorkerContext
from agents.lifecycle import OrderState
from agents.reasons import ReasonCode, Stage
from agents.risk import (
    AccountRisk,
    check_order,
    limits_for,
    on_approved,
    on_order_closed,
    reference_price,
)
from agents.runtime import Batch
from connectors.fees import q4
from schemas.records import OrderEvent, OrderIntent, OrderStatus
from streams.metrics import REJECTIONS, order_event_counter
from streams.topics import APPROVED
from streams.topics import ORDER_EVENTS as EVENTS_TOPIC

__all__ = ["AGENT", "close_order", "decide", "load_risk"]

AGENT = "check_risk"


def load_risk(ctx: WorkerContext, batch: Batch, account: str, partition: int) -> AccountRisk:
    """The account's risk state for this batch, written back when the batch commits."""
    table = ctx.tables["risk"]
    state: AccountRisk = batch.load(
        table, account, AccountRisk.from_dict, lambda: AccountRisk(account)
    )
    batch.dirty(table, account, partition, AccountRisk.to_dict)
    return state


def decide(
    ctx: WorkerContext,
    batch: Batch,
    partition: int,
    intent: OrderIntent,
    state: OrderState,
    now: datetime,
    now_ns: int,
    *,
    routed: bool = False,
) -> tuple[OrderIntent, OrderState] | None:
    """APPROVED (returns the approved intent and order state) or DENIED (returns None).

    ``routed``: the intent is already at its venue (a replay), so it is approved again."""
    account = intent.account_id
    key = account.encode()
    risk = load_risk(ctx, batch, account, partition)
    last = ctx.prices.last(intent.exchange, intent.instrument_token)
    code: ReasonCode | None = None
    if not routed and intent.intent_id not in risk.open_orders:  # else: a replay
        limits = limits_for(risk, ctx.limits)
        code = check_order(
            intent, risk, limits, now_ns, last, global_state=ctx.switch.trading_state
        )
    if code is not None:
        state = state.advance(OrderStatus.DENIED)
        batch.outbox.add(EVENTS_TOPIC, key, _event(state, now, code, intent))
        REJECTIONS.labels(agent=AGENT, status="DENIED", reason=code.value).inc()
        order_event_counter("DENIED").inc()
        return None
    on_approved(risk, intent, now_ns, last)
    ref = reference_price(intent, last)
    approved = intent.replace(stage="approved", reference_price=None if ref is None else q4(ref))
    state = state.advance(OrderStatus.APPROVED)
    batch.outbox.add(APPROVED, key, approved)
    batch.outbox.add(EVENTS_TOPIC, key, _event(state, now, None, intent))
    order_event_counter("APPROVED").inc()
    return approved, state


def close_order(
    ctx: WorkerContext, batch: Batch, account: str, partition: int, intent_id: str
) -> None:
    """An approved order that will not trade (any more) stops counting as open."""
    on_order_closed(load_risk(ctx, batch, account, partition), intent_id)


def _event(
    state: OrderState, now: datetime, reason: ReasonCode | None, intent: OrderIntent
) -> OrderEvent:
    return state.to_event(
        created_at=now, reason_code=reason, stage=Stage.RISK.value, trace_id=intent.trace_id
    )
