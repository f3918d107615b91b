"""Faust's table recovery with one ordering fixed: stream partitions are sought, then resumed.

After every partition assignment Faust pauses all partitions, recovers the tables from their
changelogs, and then (``Recovery.on_recovery_completed``) resumes the stream partitions,
seeks them to their committed offsets and resumes flow control. Resuming flow control empties
every agent's input queue (``FlowControlEvent.resume`` clears the queues created with
``clear_on_resume``). Faust 0.15 does those in that order, with the seek awaited in between:
the fetcher, already running for the changelogs, hands records of the just-resumed partitions
to the agents' queues while the seek is in flight, and the resume then throws them away. They
were never acknowledged, and Faust counts on the seek to fetch them again. It does not when

* the partition has no committed offset yet: the seek leaves such partitions where they are,
  already past the thrown-away records; or
* the fetcher is still handing out the rest of a batch fetched before the seek: Faust's read
  position for the partition moves past the thrown-away records, and when the sought fetch
  returns them they are dropped as already read.

Either way the records are never processed, and since Faust commits an offset only up to the
first record not acknowledged, that partition's committed offset stops for good while the
records after the gap are processed. The chaos day (worker killed during its own recovery,
with a backlog of intents behind it) showed it as intents acknowledged at the ingress with no
order event ever, and the consumer group lagging on the same partitions forever
(docs/order-pipeline.md, "After a restart or rebalance").

``OrderedRecovery`` seeks first, while the partitions are still paused, sends partitions with
nothing committed to their beginning (the group's ``auto_offset_reset=earliest``) and only then
resumes them, with no await between that resume and flow control's, so no record can reach a
queue before it is emptied. Everything else is Faust's own code path. The app uses it through
Faust's ``TableManager`` setting (``PipelineTableManager``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery

__all__ = ["OrderedRecovery", "PipelineTableManager"]


class OrderedRecovery(Recovery):
    """Faust's ``Recovery``; stream partitions are resumed only once they are sought."""

    async def _seek_streams(self, generation_id: int) -> set[Any] | None:
        """Seek every assigned stream partition (still paused) to where it must resume:
        its committed offset, or its beginning when nothing is committed. None: a newer
        rebalance took over (its own recovery resumes the partitions)."""
        # Faust's typed interfaces do not declare what its concrete consumer and app have
        consumer: Any = self.app.consumer
        streams = {tp for tp in consumer.assignment() if not self._is_changelog_tp(tp)}
        if streams:
            self.log.info("Seek stream partitions to committed offsets.")
            timeout = self.app.conf.broker_request_timeout
            await self._wait(consumer.perform_seek(), timeout=timeout)
            committed = consumer._committed_offset  # Faust keeps the group's offsets here
            fresh = [tp for tp in streams if not committed.get(tp)]
            if fresh:
                await self._wait(self._seek_to_beginning(consumer, fresh), timeout=timeout)
        if self.app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again")
            return None
        return streams

    @staticmethod
    async def _seek_to_beginning(consumer: Any, tps: list[Any]) -> None:
        earliest = await consumer.earliest_offsets(*tps)
        await consumer.seek_wait({tp: earliest.get(tp) or 0 for tp in tps})

    def _resume(self, streams: set[Any]) -> None:
        """Resume the sought partitions and flow control together (no await in between)."""
        consumer: Any = self.app.consumer
        consumer.resume_partitions(streams)
        self.completed.set()
        self.app.flow_control.resume()
        consumer.resume_flow()

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Faust's ``on_recovery_completed``, seeking before resuming (module docstring)."""
        self.log.info("Restore complete!")
        await self.app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(
                table.on_recovery_completed(
                    self.actives_for_table[table], self.standbys_for_table[table]
                )
            )
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        if self.app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again")
            return
        streams = await self._seek_streams(generation_id)
        if streams is None:
            return
        self._resume(streams)
        await cast(Any, self.app)._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not self.app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        self.app.on_rebalance_end()
        self.log.info("Worker ready")

    async def _resume_streams(self, generation_id: int = 0) -> None:
        """The same for an app without tables (Faust skips recovery and comes here)."""
        await self.app.on_rebalance_complete.send()
        if self.app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again")
            return
        streams = await self._seek_streams(generation_id)
        if streams is None:
            return
        self._resume(streams)
        await cast(Any, self.app)._fetcher.maybe_start()
        self.tables.on_actives_ready()
        self.tables.on_standbys_ready()
        self.app.on_rebalance_end()
        self.log.info("Worker ready")


class PipelineTableManager(TableManager):
    """Faust's table manager with ``OrderedRecovery``."""

    @property
    def recovery(self) -> OrderedRecovery:
        """The recovery service of this table manager."""
        if self._recovery is None:
            self._recovery = OrderedRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return cast(OrderedRecovery, self._recovery)


# Faust's logger names, which the worker's logging keeps at WARNING (streams/logs.py); set
# after the class statements because mode names a subclass's logger after its module then.
OrderedRecovery.logger = logging.getLogger(Recovery.__module__)
PipelineTableManager.logger = logging.getLogger(TableManager.__module__)
