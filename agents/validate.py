"""``validate_intents``: orders.intents.v1 → orders.validated.v1 (+ VALIDATED / REJECTED on
orders.events.v1), then, in the same pass, the ``check_risk`` and ``route_orders`` stages.

Key: account id on every input and output (venue orders: instrument token). Ordering
relied on: the intents of one account arrive in partition order, so the duplicate
``client_order_id`` check and the risk state see them in the order they were published.

The three stages are fused into one Faust agent to keep hops few (docs/performance.md: Faust's
per-event cost dominates); each stage still publishes its contract topic and events, and is
timed and counted under its own agent name. Idempotence on replay:

* an intent id already in the ``validation`` table was fully decided and published: dropped;
* an intent already among the account's open orders was approved: not checked again;
* an intent in the ``routed`` table was placed: not placed again.

The ``validation`` table keeps, per account, the last ``agents.seen_memory`` intent ids and
today's (IST) validated client order ids (a rejected intent does not use up its id).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from agents import check_risk, route
from agents.context import WorkerContext
from agents.lifecycle import OrderState
from agents.reasons import ReasonCode, Stage
from agents.replay_gate import replay_gate
from agents.risk import trading_day
from agents.route import RoutedIds
from agents.runtime import REPLAYED_TOPICS, Batch, Incoming, batched_agent
from agents.validation.rules import enrich, malformed_field, validate
from schemas.records import OrderIntent, OrderStatus
from streams.metrics import PROCESSING_SECONDS, REJECTIONS, STAGE_LATENCY, order_event_counter
from streams.topics import INTENTS, VALIDATED
from streams.topics import ORDER_EVENTS as EVENTS_TOPIC

__all__ = ["AGENT", "SeenIds", "register"]

AGENT = "validate_intents"
log = structlog.get_logger(__name__)
_IST = timedelta(hours=5, minutes=30)


@dataclass(slots=True)
class SeenIds:
    """Per-account memory of the validation stage (ordered dicts used as bounded sets)."""

    intents: dict[str, None] = field(default_factory=dict)
    day: int = 0
    client_order_ids: dict[str, None] = field(default_factory=dict)

    def remember(self, intent_id: str, limit: int) -> None:
        """Mark an intent decided."""
        self.intents[intent_id] = None
        while len(self.intents) > limit:
            del self.intents[next(iter(self.intents))]

    def today(self, day: int) -> dict[str, None]:
        """Client order ids validated on ``day`` (a new day starts empty)."""
        if day != self.day:
            self.day = day
            self.client_order_ids = {}
        return self.client_order_ids

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "intents": list(self.intents),
            "day": self.day,
            "client_order_ids": list(self.client_order_ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeenIds:
        """Inverse of ``to_dict``."""
        return cls(
            intents=dict.fromkeys(data.get("intents", ())),
            day=int(data.get("day", 0)),
            client_order_ids=dict.fromkeys(data.get("client_order_ids", ())),
        )


def _latency(created_at: datetime, now_s: float) -> float:
    return max(now_s - created_at.timestamp(), 0.0)


def register(ctx: WorkerContext) -> None:
    """Declare the agent on the worker's app."""
    table = ctx.tables["validation"]
    routed_table = ctx.tables["routed"]
    conf = ctx.pipeline.settings.agents
    timers = {
        name: PROCESSING_SECONDS.labels(agent=name)
        for name in (AGENT, check_risk.AGENT, route.AGENT)
    }
    latency = {
        name: STAGE_LATENCY.labels(stage=name) for name in (AGENT, check_risk.AGENT, route.AGENT)
    }

    async def handle(items: Sequence[Incoming], batch: Batch) -> None:
        await ctx.ready.wait()
        ctx.publisher.outbox = batch.outbox
        now = ctx.clock.now()
        now_ns = ctx.clock.now_ns()
        now_s = now.timestamp()
        day = trading_day(now_ns)
        today = ctx.clock.trading_day()
        for item in items:
            intent: OrderIntent = item.value
            account = intent.account_id
            seen = batch.load(table, account, SeenIds.from_dict, SeenIds)
            if intent.intent_id in seen.intents:
                log.debug("intent_replay_dropped", intent_id=intent.intent_id)
                continue
            started = time.perf_counter()
            key = account.encode()
            instrument = ctx.instruments.find(intent.exchange, intent.instrument_token)
            seen_today = seen.today(day)
            code = validate(intent, instrument, today=today, seen_client_order_ids=seen_today)
            state = OrderState.from_intent(intent)
            if code is not None or instrument is None:
                reason = code or ReasonCode.UNKNOWN_INSTRUMENT
                state = state.advance(OrderStatus.REJECTED)
                detail = malformed_field(intent) if reason is ReasonCode.MALFORMED_FIELD else None
                batch.outbox.add(EVENTS_TOPIC, key, _event(state, now, reason, intent, detail))
                REJECTIONS.labels(agent=AGENT, status="REJECTED", reason=reason.value).inc()
                order_event_counter("REJECTED").inc()
            else:
                enriched = enrich(intent, instrument)
                seen_today[intent.client_order_id] = None
                state = state.advance(OrderStatus.VALIDATED)
                batch.outbox.add(VALIDATED, key, enriched)
                batch.outbox.add(EVENTS_TOPIC, key, _event(state, now, None, intent))
                order_event_counter("VALIDATED").inc()
                validated_at = time.perf_counter()
                timers[AGENT].observe(validated_at - started)
                latency[AGENT].observe(_latency(intent.created_at, now_s))
                started = validated_at
                routed = batch.load(routed_table, account, RoutedIds.from_dict, RoutedIds)
                decided = check_risk.decide(
                    ctx,
                    batch,
                    item.partition,
                    enriched,
                    state,
                    now,
                    now_ns,
                    routed=intent.intent_id in routed.ids,
                )
                approved_at = time.perf_counter()
                timers[check_risk.AGENT].observe(approved_at - started)
                latency[check_risk.AGENT].observe(_latency(intent.created_at, now_s))
                if decided is not None:
                    approved, state = decided
                    await route.route(ctx, batch, item.partition, approved, state, now)
                    timers[route.AGENT].observe(time.perf_counter() - approved_at)
                    latency[route.AGENT].observe(_latency(intent.created_at, now_s))
                started = -1.0
            if started >= 0:
                timers[AGENT].observe(time.perf_counter() - started)
                latency[AGENT].observe(_latency(intent.created_at, now_s))
            seen.remember(intent.intent_id, conf.seen_memory)
            batch.dirty(table, account, item.partition, SeenIds.to_dict)

    gate = replay_gate(ctx.pipeline.app, REPLAYED_TOPICS)
    batched_agent(ctx.pipeline, AGENT, INTENTS, handle, ctx.producer, timed=False, gate=gate)


def _event(
    state: OrderState,
    now: datetime,
    reason: ReasonCode | None,
    intent: OrderIntent,
    detail: str | None = None,
) -> Any:
    return state.to_event(
        created_at=now,
        reason_code=reason,
        reason=detail,
        stage=Stage.VALIDATION.value,
        trace_id=intent.trace_id,
    )
