"""No record stops the worker: a raw intent that breaks the contract is REJECTED with
MALFORMED_FIELD, a fill whose position the contract cannot carry and a tick the price book
refuses go to their DLQs (one header dialect), and each partition keeps moving."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from schemas.records import OrderEvent, OrderStatus, PositionSnapshot
from streams.dlq import DLQ_HEADERS, read_dlq_headers
from streams.embedded import EmbeddedBroker
from streams.settings import KafkaSettings
from streams.topics import FILLS, INTENTS, ORDER_EVENTS, POSITIONS, TICKS, ensure_topics
from tests.factories import make_fill, make_intent, make_tick
from tests.harness import CODEC, TradepipeProcess, collect, env_for, produce

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def test_refused_records_go_to_the_dlq_or_are_rejected_and_partitions_move(
    fresh_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # Arrange: one account per topic, so each poison record and its successor share a partition
    bootstrap = fresh_broker.bootstrap_servers
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
    nul_symbol = make_intent(intent_id="it-nul", account_id="ACC7", symbol="RELIANCE\x00EQ")
    bidi_tag = make_intent(intent_id="it-bidi", account_id="ACC7", tag="t\u202e1")
    after = make_intent(intent_id="it-after", account_id="ACC7", trace_id="tr-after")
    # the fee model prices a fill without a fee: for 10^15 at ~1e11 that fee is far past
    # decimal(18, 4), so the position snapshot cannot be encoded
    buy = make_fill(fill_id="f-buy", account_id="ACC8", quantity=1, price=Decimal("10.00"))
    huge = make_fill(
        fill_id="f-huge", account_id="ACC8", quantity=10**15, price=Decimal("99999999999.0000")
    )
    later = make_fill(fill_id="f-later", account_id="ACC8", quantity=1, price=Decimal("10.00"))
    zero_tick = make_tick(last_price=Decimal("0"), trace_id="tick-zero")
    negative_tick = make_tick(last_price=Decimal("-5.00"), trace_id="tick-neg")
    env = env_for(bootstrap, TRADEPIPE_APP_ID="tp-refusals-test")

    # Act
    with TradepipeProcess(["worker"], env, tmp_path / "worker.log") as worker:
        await produce(bootstrap, INTENTS, [nul_symbol, bidi_tag, after])
        await produce(bootstrap, FILLS, [buy, huge, later])
        await produce(bootstrap, TICKS, [zero_tick], key_field="instrument_token")
        events = await collect(bootstrap, ORDER_EVENTS, 5, timeout=120)
        fills_dead = await collect(bootstrap, FILLS + ".dlq", 1, timeout=60)
        positions = await collect(bootstrap, POSITIONS, 2, timeout=60)
        await produce(bootstrap, TICKS, [negative_tick], key_field="instrument_token")
        ticks_dead = await collect(bootstrap, TICKS + ".dlq", 2, timeout=60)
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-2000:]

    # Assert: the contract breakers are REJECTED with the field named; the next one validates
    decoded = [CODEC.decode(m.value, OrderEvent) for m in events]
    by_intent = {(e.intent_id, e.status): e for e in decoded}
    for intent_id, field in (("it-nul", "symbol"), ("it-bidi", "tag")):
        rejected = by_intent[(intent_id, OrderStatus.REJECTED)]
        assert rejected.reason_code == "MALFORMED_FIELD"
        assert rejected.reason is not None and rejected.reason.startswith(f"{field}: ")
    assert ("it-after", OrderStatus.VALIDATED) in by_intent
    # the fill that cannot be carried is dead-lettered; the one after it is applied
    assert len(fills_dead) == 1
    fh = read_dlq_headers(fills_dead[0].headers)
    assert set(DLQ_HEADERS) <= fh.keys()
    assert (fh["source_topic"], fh["source_offset"], fh["agent"]) == (FILLS, "1", "apply_fills"), fh
    assert fh["error_code"] == "InvalidOperation"  # the 4-place rounding overflows
    assert fills_dead[0].key == b"ACC8"
    assert fills_dead[0].value == CODEC.encode(FILLS, huge)
    snapshots = [CODEC.decode(m.value, PositionSnapshot) for m in positions]
    assert [s.last_fill_id for s in snapshots] == ["f-buy", "f-later"]
    # both refused ticks are dead-lettered by the price feed: it kept reading
    tick_headers = sorted(
        (read_dlq_headers(m.headers) for m in ticks_dead), key=lambda h: int(h["source_offset"])
    )
    assert [h["source_offset"] for h in tick_headers] == ["0", "1"]
    assert {h["agent"] for h in tick_headers} == {"price_feed"}
    assert {h["error_code"] for h in tick_headers} == {"tick_refused"}
    assert all(set(DLQ_HEADERS) <= h.keys() for h in tick_headers)
