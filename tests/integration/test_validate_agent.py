"""validate_intents on the real embedded broker, in a real worker process."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.records import OrderEvent, OrderIntent, OrderStatus, OrderType
from streams.dlq import DLQ_HEADERS
from streams.embedded import EmbeddedBroker
from streams.settings import KafkaSettings
from streams.topics import ensure_topics
from tests.factories import make_intent
from tests.harness import CODEC, TradepipeProcess, collect, env_for, produce, produce_raw

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _intent(n: int, **changes: object) -> OrderIntent:
    return make_intent(
        intent_id=f"it-{n}",
        account_id=f"ACC{n % 3}",
        client_order_id=f"c-{n}",
        trace_id=f"tr-{n}",
        **changes,
    )


async def test_worker_validates_rejects_and_dead_letters_poison_without_stopping(
    fresh_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # Arrange
    bootstrap = fresh_broker.bootstrap_servers
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
    good = [_intent(n) for n in range(6)]
    bad = [_intent(10, quantity=0), _intent(11, order_type=OrderType.MARKET)]
    env = env_for(bootstrap, TRADEPIPE_APP_ID="tp-validate-test")
    # Act
    with TradepipeProcess(["worker"], env, tmp_path / "worker.log") as worker:
        await produce(bootstrap, "orders.intents.v1", good[:3])
        await produce_raw(
            bootstrap,
            "orders.intents.v1",
            [(b"ACC1", b"\x00\x00\x00\x00\x02not-avro"), (b"ACC2", b"junk")],
        )
        await produce(bootstrap, "orders.intents.v1", good[3:] + bad)
        # every good intent: VALIDATED, APPROVED, ROUTED; every bad one: REJECTED
        events = await collect(bootstrap, "orders.events.v1", 20, timeout=90)
        validated = await collect(bootstrap, "orders.validated.v1", 6, timeout=30)
        dlq = await collect(bootstrap, "orders.intents.v1.dlq", 2, timeout=30)
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-2000:]
    # Assert
    all_events = [CODEC.decode(m.value, OrderEvent) for m in events]
    decoded = {e.intent_id: e for e in all_events}
    assert {e.intent_id for e in all_events if e.status is OrderStatus.VALIDATED} == {
        g.intent_id for g in good
    }
    assert {i for i, e in decoded.items() if e.status is OrderStatus.ROUTED} == {
        g.intent_id for g in good
    }
    assert (
        decoded["it-10"].status is OrderStatus.REJECTED
        and decoded["it-10"].reason_code == "QTY_NOT_POSITIVE"
    )
    assert (
        decoded["it-11"].status is OrderStatus.REJECTED
        and decoded["it-11"].reason_code == "MARKET_HAS_PRICE"
    )
    assert all(m.key == CODEC.decode(m.value, OrderEvent).account_id.encode() for m in events)
    assert {CODEC.decode(m.value, OrderIntent).stage for m in validated} == {"validated"}
    assert sorted(m.value for m in dlq) == sorted([b"\x00\x00\x00\x00\x02not-avro", b"junk"])
    for m in dlq:
        headers = dict(m.headers)
        assert headers["source_topic"] == b"orders.intents.v1"
        assert headers["error_code"] == b"decode_error"
        assert int(headers["source_offset"]) >= 0
        assert headers["agent"] == b"worker"
        assert set(DLQ_HEADERS) <= headers.keys()
