"""The paper exchange as a running component: the process, its engine, its state and markers.

The matching core itself is pure and lives in ``connectors.paper_exchange``.
"""

from connectors.paper.engine import INPUT_TOPICS, ROUTED_SEQ, PaperEngine
from connectors.paper.markers import CANCEL_STAGE, EXPIRE_STAGE, cancel_marker, expire_marker
from connectors.paper.state import PartitionState, RedisSnapshotStore
from connectors.paper.venue import PaperExchange

__all__ = [
    # process
    "PaperExchange",
    # engine and state
    "INPUT_TOPICS",
    "ROUTED_SEQ",
    "PaperEngine",
    "PartitionState",
    "RedisSnapshotStore",
    # markers on paper.orders.v1
    "CANCEL_STAGE",
    "EXPIRE_STAGE",
    "cancel_marker",
    "expire_marker",
]
