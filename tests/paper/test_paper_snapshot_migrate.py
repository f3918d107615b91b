"""``RedisSnapshotStore.migrate``: the paper exchange's books carried to a new Kafka cluster."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.ids import paper_order_id
from connectors.paper.state import PartitionState, RedisSnapshotStore, snapshot_scope
from connectors.paper_exchange import PaperBook, PaperConfig, PaperOrder
from schemas.records import Exchange
from tests.conftest import REDIS_URL
from tests.paper.helpers import routed

pytestmark = [pytest.mark.redis]


def _state(partition: int) -> PartitionState:
    state = PartitionState(partition=partition)
    book = PaperBook("2885", Exchange.NSE, Decimal("0.05"), PaperConfig())
    intent = routed(intent_id=f"rest-{partition}", price=Decimal("2440.00"))
    book.on_order(
        PaperOrder.from_intent(intent, broker_order_id=paper_order_id(intent.intent_id), seq=3), 1
    )
    state.add_book(book)
    state.offsets = {"paper.orders.v1": 7, "md.ticks.v1": 40}
    return state


async def test_migrate_copies_books_clears_offsets_and_keeps_existing_targets(
    redis_client: Any, unique: str
) -> None:
    # Arrange: partition 0 acknowledged, partition 1 with an outbox never acknowledged
    store = RedisSnapshotStore(REDIS_URL, f"tp-test:{unique}:")
    old, new = snapshot_scope("cluster-a", "paper"), snapshot_scope("cluster-b", "paper")
    acked, pending = _state(0), _state(1)
    pending.outbox = [("exec.fills.v1", b"ACC1", b"\x00fill", [])]
    store.save(old, [acked, pending])
    try:
        # Act
        copied = store.migrate(old, new)
        again = store.migrate(old, new)
        # Assert
        assert copied == [0, 1] and again == []
        restored0, ok0 = store.load(new, 0)
        restored1, ok1 = store.load(new, 1)
        assert restored0 is not None and restored1 is not None
        assert restored0.offsets == {} and restored1.offsets == {}
        assert restored0.resting() == 1 and restored1.resting() == 1
        assert ok0 and not ok1
        assert restored1.outbox == pending.outbox
        still_old, _ = store.load(old, 0)
        assert still_old is not None and still_old.offsets == acked.offsets
    finally:
        store.close()
