"""Find the records Postgres refuses in a batch, inside the batch's own transaction.

A row Postgres cannot hold (NUL in text, a number past its column, a key too long for its
index: ``REFUSED_BY_POSTGRES``) fails a whole COPY. ``write_batch`` then undoes the rows to a
savepoint and hands over to ``Isolation``, which writes the batch's records again, bisecting:
each half in a savepoint of its own, a refused half split again, until the refused records
stand alone. They are dead-lettered with Postgres's reason, everything else is written, and the
offsets row still commits in the same transaction, so exactly-once holds.

Halves are written in the order the records were polled, so the latest table value per key,
the audit chain order and the forward-only ``orders``/``positions`` upserts come out as they
would from one write. With ``k`` refused records among ``n`` the cost is about
``2·k·log2(n)`` savepoints and ``n·(1 + log2 n)`` rows at worst; a clean batch pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]  # asyncpg ships no type information
import structlog

from connectors.sink.writer import REFUSED_BY_POSTGRES, Batch, write_rows

__all__ = ["Isolation", "refusal_reason"]

log = structlog.get_logger(__name__)

Builder = Callable[[Mapping[Any, list[Any]]], Batch]
"""Builds a batch from ``{TopicPartition: [records]}`` (``batching.build_batch``)."""


def refusal_reason(exc: BaseException) -> str:
    """``"<ErrorClass>: <sqlstate> <message>"``, the sink's DLQ reason for a refused row."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return f"{type(exc).__name__}: {sqlstate} {exc}".strip()[:500]


class Isolation:
    """An ``Isolator`` for one batch: its records in poll order, the refused ones collected."""

    def __init__(
        self, schema: str, batch: Batch, units: Mapping[Any, list[Any]], build: Builder
    ) -> None:
        self.schema = schema
        self.batch = batch
        self.units = [(tp, msg) for tp, msgs in units.items() for msg in msgs]
        self.build = build
        self.refused: list[tuple[Any, str]] = []

    async def __call__(self, conn: asyncpg.Connection, exc: BaseException) -> dict[str, int]:
        """Write every record Postgres accepts; the refused ones land in ``self.refused``."""
        log.warning("sink_batch_refused", records=len(self.units), error=refusal_reason(exc))
        written: dict[str, int] = {}
        if len(self.units) == 1:
            self.refused.append((self.units[0][1], refusal_reason(exc)))
        else:
            mid = len(self.units) // 2
            for part in (self.units[:mid], self.units[mid:]):
                await self._write(conn, part, written)
        # the sink_dlq rows go in with the batch's own, after this returns
        self.batch.dlq.extend((m.topic, m.partition, m.offset, e) for m, e in self.refused)
        log.warning("sink_rows_refused", refused=len(self.refused), written=written)
        return written

    async def _write(
        self, conn: asyncpg.Connection, part: list[tuple[Any, Any]], written: dict[str, int]
    ) -> None:
        if not part:
            return
        data: dict[Any, list[Any]] = {}
        for tp, msg in part:
            data.setdefault(tp, []).append(msg)
        try:
            async with conn.transaction():
                got = await write_rows(conn, self.schema, self.build(data))
        except REFUSED_BY_POSTGRES as exc:
            if len(part) == 1:
                self.refused.append((part[0][1], refusal_reason(exc)))
                return
            mid = len(part) // 2
            await self._write(conn, part[:mid], written)
            await self._write(conn, part[mid:], written)
            return
        for table, n in got.items():
            written[table] = written.get(table, 0) + n
