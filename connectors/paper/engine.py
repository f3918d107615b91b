"""The paper exchange's record handling: raw Kafka records in, encoded outputs out.

Kafka-free so tests and benchmarks can drive it directly. For each record of partition ``p``
the engine updates that partition's ``PartitionState`` and appends what to publish to its
outbox: ``Fill``s to ``exec.fills.v1`` and venue ``OrderEvent``s to ``orders.events.v1``
(both keyed by account, trace id as record field and header), poison to ``<topic>.dlq``.

Hot path: a tick is fully decoded only when its instrument has working orders in the
partition (the topic key is the token, so the check needs no decode); every other tick costs
a dict lookup and a framing check.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import structlog

from connectors.ids import event_id, ns_to_datetime, paper_order_id
from connectors.instruments import InstrumentMaster
from connectors.paper.markers import CANCEL_STAGE, EXPIRE_STAGE
from connectors.paper.state import PartitionState
from connectors.paper_exchange import PaperBook, PaperConfig, PaperOrder
from schemas.codec import AvroCodec
from schemas.contracts import dlq_topic
from schemas.records import Fill, OrderEvent, OrderIntent, OrderStatus, OrderType, Tick
from streams.contract import MAX_QUANTITY
from streams.dlq import dlq_headers
from streams.errors import DecodeError
from streams.metrics import DLQ_RECORDS, FILLS, ORDER_EVENTS
from streams.topics import FILLS as FILLS_TOPIC
from streams.topics import ORDER_EVENTS as EVENTS_TOPIC
from streams.topics import PAPER_ORDERS, TICKS

__all__ = ["AGENT", "INPUT_TOPICS", "ROUTED_SEQ", "VENUE_REJECTED", "PaperEngine"]

_MAX_NOTIONAL = Decimal(10) ** 14  # decimal(18, 4): 14 integer digits

log = structlog.get_logger(__name__)

AGENT = "paper_exchange"
# RECEIVED 0, VALIDATED 1, APPROVED 2, ROUTED 3: venue events continue from here.
ROUTED_SEQ = 3
VENUE_REJECTED = "VENUE_REJECTED"  # agents.reasons.ReasonCode.VENUE_REJECTED
# Both input topics, co-partitioned (same count, keyed by instrument token).
INPUT_TOPICS = (PAPER_ORDERS, TICKS)


class PaperEngine:
    """Applies orders, markers and ticks to partition states; collects encoded outputs."""

    def __init__(
        self, codec: AvroCodec, instruments: InstrumentMaster, config: PaperConfig
    ) -> None:
        self.codec = codec
        self.instruments = instruments
        self.config = config
        self._enc_fill: Callable[[Fill], bytes] = codec.encoder(FILLS_TOPIC, Fill)
        self._enc_event: Callable[[OrderEvent], bytes] = codec.encoder(EVENTS_TOPIC, OrderEvent)
        self.ticks_seen = 0
        self.ticks_decoded = 0
        self.fills = 0

    # -- dispatch ------------------------------------------------------------------------
    def handle(
        self,
        state: PartitionState,
        topic: str,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        ts_ms: int,
    ) -> None:
        """Process one record of ``state.partition``; poison goes to the DLQ outbox."""
        try:
            if topic == TICKS:
                self._on_tick_record(state, key, value)
            else:
                self._on_order_record(state, value, ts_ms * 1_000_000)
        except Exception as exc:  # noqa: BLE001 - the one DLQ guard: poison must not stop the partition
            self._dead_letter(state, topic, offset, key, value, exc)
        state.offsets[topic] = offset + 1

    # -- ticks ---------------------------------------------------------------------------
    def _on_tick_record(
        self, state: PartitionState, key: bytes | None, value: bytes | None
    ) -> None:
        self.ticks_seen += 1
        if value is None or len(value) < 5 or value[0] != 0:
            raise DecodeError("tick is not Confluent-framed Avro")
        books = state.by_token.get(key) if key is not None else None
        if not books or not any(b.orders for b in books):
            return
        tick = self.codec.decode(value, Tick)
        self.ticks_decoded += 1
        for book in books:
            if book.exchange is tick.exchange:
                self._emit(state, book.on_tick(tick))

    # -- orders and markers --------------------------------------------------------------
    def _on_order_record(self, state: PartitionState, value: bytes | None, ts_ns: int) -> None:
        if value is None:
            raise DecodeError("order record has no value")
        intent = self.codec.decode(value, OrderIntent)
        if intent.stage == EXPIRE_STAGE:
            ts = int(intent.created_at.timestamp()) * 1_000_000_000
            for each in state.books.values():
                self._emit(state, each.expire_day(max(ts, ts_ns)))
            return
        book = self._book_for(state, intent)
        if intent.stage == CANCEL_STAGE:
            if book is None:
                log.warning("cancel_refused", intent_id=intent.intent_id, reason="ORDER_NOT_FOUND")
                return
            events, refusal = book.cancel(paper_order_id(intent.intent_id), ts_ns)
            if refusal is not None:
                log.info("cancel_refused", intent_id=intent.intent_id, reason=refusal)
            self._emit(state, events)
            return
        problem = _venue_problem(intent) if book is not None else "instrument unknown to the venue"
        if book is None or problem is not None:
            self._emit(state, [self._rejected(intent, problem or "", ts_ns)])
            return
        order = PaperOrder.from_intent(
            intent, broker_order_id=paper_order_id(intent.intent_id), seq=ROUTED_SEQ
        )
        self._emit(state, book.on_order(order, ts_ns))

    def _book_for(self, state: PartitionState, intent: OrderIntent) -> PaperBook | None:
        book = state.books.get(f"{intent.exchange}:{intent.instrument_token}")
        if book is not None:
            return book
        tick_size = intent.tick_size
        if tick_size is None:
            inst = self.instruments.get(intent.exchange.value, intent.instrument_token)
            tick_size = inst.tick_size if inst is not None else None
        if tick_size is None or tick_size <= 0:
            return None
        book = PaperBook(intent.instrument_token, intent.exchange, tick_size, self.config)
        state.add_book(book)
        return book

    def _rejected(self, intent: OrderIntent, reason: str, ts_ns: int) -> OrderEvent:
        seq = ROUTED_SEQ + 1
        return OrderEvent(
            event_id=event_id(intent.intent_id, OrderStatus.REJECTED, seq),
            intent_id=intent.intent_id,
            account_id=intent.account_id,
            client_order_id=intent.client_order_id,
            instrument_token=intent.instrument_token,
            exchange=intent.exchange,
            side=intent.side,
            status=OrderStatus.REJECTED,
            seq=seq,
            quantity=intent.quantity,
            price=intent.price,
            reason_code=VENUE_REJECTED,
            reason=reason,
            venue=self.config.venue,
            broker_order_id=paper_order_id(intent.intent_id),
            stage="venue",
            created_at=ns_to_datetime(ts_ns),
            trace_id=intent.trace_id,
        )

    # -- output --------------------------------------------------------------------------
    def _emit(self, state: PartitionState, results: list[Any]) -> None:
        out = state.outbox
        for rec in results:
            headers = [("trace_id", rec.trace_id.encode())] if rec.trace_id else []
            key = rec.account_id.encode()
            if isinstance(rec, Fill):
                out.append((FILLS_TOPIC, key, self._enc_fill(rec), headers))
                FILLS.labels(venue=self.config.venue).inc()
                self.fills += 1
            else:
                out.append((EVENTS_TOPIC, key, self._enc_event(rec), headers))
                ORDER_EVENTS.labels(status=rec.status.value).inc()

    def _dead_letter(
        self,
        state: PartitionState,
        topic: str,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        exc: BaseException,
    ) -> None:
        headers = dlq_headers(exc, topic, state.partition, offset, AGENT)
        code = headers[1][1].decode()
        state.outbox.append((dlq_topic(topic), key, value or b"", headers))
        DLQ_RECORDS.labels(topic=topic, code=code).inc()
        log.warning(
            "record_dead_lettered",
            source_topic=topic,
            partition=state.partition,
            offset=offset,
            error_code=code,
            error=str(exc)[:200],
        )


def _venue_problem(intent: OrderIntent) -> str | None:
    """What the venue cannot book (validation upstream refuses these first).

    An order whose fills could not be recorded (a quantity past the contract, a notional past
    what ``decimal(18, 4)`` holds) is refused here, at booking: booked, it would fail every
    tick of its instrument instead."""
    if intent.quantity <= 0:
        return "quantity must be positive"
    if intent.quantity > MAX_QUANTITY:
        return f"quantity must be at most {MAX_QUANTITY:,}"
    worst = max(
        (p for p in (intent.price, intent.trigger_price, intent.reference_price) if p),
        default=None,
    )
    if worst is not None and worst * intent.quantity >= _MAX_NOTIONAL:
        return "notional past what a fill can record"
    if intent.order_type in (OrderType.LIMIT, OrderType.STOPLOSS_LIMIT) and not intent.price:
        return "limit order without a price"
    if intent.order_type in (OrderType.STOPLOSS_LIMIT, OrderType.STOPLOSS_MARKET) and not (
        intent.trigger_price and intent.trigger_price > Decimal(0)
    ):
        return "stop order without a trigger"
    return None
