"""``apply_controls``: control.commands.v1 → the ``risk`` table and audit.events.v1; and the
per-worker broadcast of ``"*"`` commands (the global kill switch).

Key: account id or ``"*"``. Ordering relied on: one account's commands in partition order
(the last SET_TRADING_STATE wins); all ``"*"`` commands share one partition.

* Per-account commands (SET_TRADING_STATE, SET_LIMITS) reach the worker that owns the
  account's partition through the consumer group and change that account's ``AccountRisk``.
* ``"*"`` commands must reach *every* worker, whatever partitions it owns. Each worker reads
  every partition of control.commands.v1 with its own consumer outside the group, from the
  beginning (the topic is small), and applies the ``"*"`` commands to its ``GlobalSwitch``
  in offset order. The group agent applies them too when it owns the ``"*"`` partition, so
  the worker that audits a switch has already applied it. Intents wait until the broadcast
  has read up to the end offsets seen at start, so a restarted worker never trades on a
  stale switch.
* Every command is audited exactly once (by the group agent; deterministic audit id):
  ``set_trading_state`` / ``set_limits`` with outcome ``applied`` or ``refused`` and the
  reason code. The kill switch HALTED denies every new order (``TRADING_HALTED``); it does
  not cancel resting orders (an operator cancels explicitly; see docs/order-pipeline.md).
* CANCEL_ORDER (per account, ``intent_id``) asks the order's venue to cancel an open order
  (``ORDER_NOT_FOUND`` when the worker knows no open order of that id).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from agents import check_risk
from agents.context import WorkerContext
from agents.events import audit_event
from agents.orders import load_book
from agents.reasons import ReasonCode
from agents.risk import GLOBAL_ACCOUNT, apply_control
from agents.runtime import Batch, Incoming, batched_agent
from schemas.records import CommandKind, ControlCommand, OrderIntent, OrderType
from streams.errors import DecodeError
from streams.kafka import aiokafka_consumer
from streams.topics import AUDIT, CONTROL

__all__ = ["AGENT", "register", "run_control_broadcast"]

AGENT = "apply_controls"
log = structlog.get_logger(__name__)


def register(ctx: WorkerContext) -> None:
    """Declare the agent on the worker's app."""

    async def handle(items: Sequence[Incoming], batch: Batch) -> None:
        now = ctx.clock.now()
        for item in items:
            command: ControlCommand = item.value
            account = command.account_id
            if account == GLOBAL_ACCOUNT:
                ctx.switch.apply(command, item.partition, item.offset, ctx.limits)
                state = ctx.switch.state
                before = None
                code = None
                if (
                    command.command is CommandKind.SET_TRADING_STATE
                    and command.trading_state is None
                ):
                    code = "INVALID_COMMAND"
            else:
                state = check_risk.load_risk(ctx, batch, account, item.partition)
                before = state.trading_state.value
                refused = apply_control(state, command, ctx.limits)
                code = None if refused is None else refused.value
                if command.command is CommandKind.CANCEL_ORDER:
                    code = await _cancel(ctx, batch, command, item.partition)
            details = {"command_id": command.command_id, "command": command.command.value}
            if before is not None:
                details["from"] = before
            if command.command is CommandKind.SET_TRADING_STATE:
                details["to"] = state.trading_state.value
            if command.intent_id:
                details["intent_id"] = command.intent_id
            for name, value in command.limits.items():
                details[f"limit.{name}"] = value
            if command.reason:
                details["reason"] = command.reason[:200]
            if code is not None:
                details["refused"] = code
            outcome = "refused" if code is not None else "applied"
            log.info(
                "control_applied",
                account_id=account,
                command=command.command.value,
                outcome=outcome,
            )
            batch.outbox.add(
                AUDIT,
                account.encode(),
                audit_event(
                    action=command.command.value.lower(),
                    outcome=outcome,
                    actor=command.actor,
                    subject=account,
                    account_id=account,
                    details=details,
                    created_at=now,
                    trace_id=command.trace_id,
                    id_parts=(command.command_id,),
                ),
            )

    batched_agent(ctx.pipeline, AGENT, CONTROL, handle, ctx.producer)


async def _cancel(
    ctx: WorkerContext, batch: Batch, command: ControlCommand, partition: int
) -> str | None:
    """Ask the order's venue to cancel it; the refusal code, or None when requested.

    The venue reports CANCELLED on orders.events.v1; ``apply_order_events`` then closes the
    order (state machine) and releases it in risk. The request goes out in the late phase,
    after the audit is acknowledged."""
    state = load_book(ctx, batch, command.account_id, partition).orders.get(command.intent_id or "")
    venue = ctx.venue_for(command.account_id)
    if state is None or not state.is_open or state.broker_order_id is None:
        return ReasonCode.ORDER_NOT_FOUND.value
    cancel = getattr(venue, "cancel_order", None)
    if cancel is None:
        return ReasonCode.NO_VENUE.value
    ctx.publisher.outbox = batch.outbox
    order = OrderIntent(
        intent_id=state.intent_id,
        account_id=state.account_id,
        client_order_id=state.client_order_id,
        instrument_token=state.instrument_token,
        exchange=state.exchange,
        side=state.side,
        quantity=state.quantity,
        order_type=OrderType.LIMIT if state.price else OrderType.MARKET,
        price=state.price,
        trace_id=command.trace_id,
    )
    await cancel(order, state.broker_order_id)
    return None


async def run_control_broadcast(ctx: WorkerContext) -> None:
    """Apply every ``"*"`` command to this worker's switch, until cancelled."""
    pipeline = ctx.pipeline
    decode = pipeline.codec.decode
    consumer = aiokafka_consumer(pipeline.settings, group_id=None)
    await consumer.start()
    try:
        partitions: set[int] = set()
        while not partitions:
            partitions = consumer.partitions_for_topic(CONTROL) or set()
            if not partitions:
                await consumer.topics()
                await asyncio.sleep(0.2)
        tps = [TopicPartition(CONTROL, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        caught_up = False
        while True:
            if not caught_up:
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= ends[tp] for tp in tps):
                    caught_up = True
                    log.info("kill_switch_loaded", state=ctx.switch.trading_state.value)
                    ctx.loaded("control")
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for msg in messages:
                    if msg.key != GLOBAL_ACCOUNT.encode() or msg.value is None:
                        continue
                    try:
                        command = decode(msg.value, ControlCommand)
                    except DecodeError:
                        continue  # the group agent dead-letters it
                    if command.account_id == GLOBAL_ACCOUNT:
                        ctx.switch.apply(command, tp.partition, msg.offset, ctx.limits)
    except KafkaError as exc:
        log.error("control_broadcast_failed", error=str(exc))
        raise
    finally:
        with contextlib.suppress(KafkaError):
            await consumer.stop()
