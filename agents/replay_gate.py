"""After a restart or rebalance, decide new intents only once replays are re-applied.

A worker killed mid-batch leaves fills and venue events whose effects (on risk state, open
orders) were not yet in its tables; after the restart they are consumed again. Intents live
on another topic, so without a gate a new intent could be risk-checked against state from
before those replays (found by the trading day with two SIGKILLs: an intent APPROVED that the
daily-loss limit should have DENIED).

The gate: after each partition assignment, intents wait until every assigned partition of
the fill and order-event topics has been processed up to the log end seen at that moment
(or was committed there already). The wait is bounded; on the embedded broker the log end
can read low by one batch (docs/embedded-broker.md #3), so there the gate narrows the
window rather than closing it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

__all__ = ["ReplayGate", "replay_gate"]

log = structlog.get_logger(__name__)

MAX_WAIT_S = 30.0
_POLL_S = 0.05


class ReplayGate:
    """Tracks what the replaying agents finished; ``wait()`` holds intents until caught up."""

    def __init__(self, app: Any, topics: frozenset[str], max_wait_s: float = MAX_WAIT_S) -> None:
        self.app = app
        self.topics = topics
        self.max_wait_s = max_wait_s
        self.done: dict[tuple[str, int], int] = {}
        self._open = False
        app.on_partitions_assigned.connect(self._close)

    async def _close(self, *_: Any, **__: Any) -> None:
        self._open = False

    def advance(self, topic: str, partition: int, next_offset: int) -> None:
        """Record that ``topic``/``partition`` is processed up to ``next_offset`` (exclusive)."""
        key = (topic, partition)
        if next_offset > self.done.get(key, 0):
            self.done[key] = next_offset

    async def wait(self) -> None:
        """Return at once when open; else wait until the replays are processed (bounded)."""
        if self._open:
            return
        consumer = self.app.consumer
        tps = [tp for tp in consumer.assignment() if tp.topic in self.topics]
        ends = await consumer.highwaters(*tps) if tps else {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        behind = self._behind(consumer, ends)
        while behind and loop.time() < deadline:
            await asyncio.sleep(_POLL_S)
            behind = self._behind(consumer, ends)
        if behind:
            log.warning("replay_gate_timeout", behind=[f"{t.topic}[{t.partition}]" for t in behind])
        elif ends:
            log.info("replay_gate_open", partitions=len(ends))
        self._open = True

    def _behind(self, consumer: Any, ends: dict[Any, int]) -> list[Any]:
        committed = consumer._committed_offset  # Faust keeps the group's offsets here
        return [
            tp
            for tp, end in ends.items()
            if max(self.done.get((tp.topic, tp.partition), 0), committed.get(tp) or 0) < end
        ]


_GATES: dict[int, ReplayGate] = {}


def replay_gate(app: Any, topics: frozenset[str]) -> ReplayGate:
    """The app's gate (one per worker)."""
    gate = _GATES.get(id(app))
    if gate is None:
        gate = _GATES[id(app)] = ReplayGate(app, topics)
    return gate
