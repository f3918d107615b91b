"""The sink's one Postgres connection: connected with backoff, dropped whole on any failure.

A connection whose backend died mid-protocol is never reused: ``drop()`` terminates it and the
next ``get()`` connects afresh (backing off while Postgres is away, until it returns or the
sink stops), with this connection's staging tables created again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]  # asyncpg ships no type information
import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from connectors.migrations import PG_UNAVAILABLE, connect
from connectors.sink.writer import prepare_connection
from streams import metrics
from streams.errors import SinkUnavailable
from streams.settings import PostgresSettings

__all__ = ["SinkConnection"]

log = structlog.get_logger(__name__)


class SinkConnection:
    """Owns the sink's connection; ``stopping`` ends any backoff."""

    def __init__(self, postgres: PostgresSettings, group: str, stopping: asyncio.Event) -> None:
        self.postgres = postgres
        self.schema = postgres.db_schema
        self.group = group
        self._stopping = stopping
        self._conn: asyncpg.Connection | None = None

    async def get(self) -> asyncpg.Connection:
        """The live connection, reconnecting first if it was lost or dropped."""
        if self._conn is not None and self._conn.is_closed():
            metrics.SINK_RETRIES.inc()
            log.warning("sink_postgres_connection_lost", schema=self.schema)
            self._conn = None
        if self._conn is None:
            await self.connect()
        assert self._conn is not None
        return self._conn

    def drop(self) -> None:
        """Abandon the connection (its transaction, if any, dies with it)."""
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def close(self) -> None:
        """Close politely (on stop)."""
        if self._conn is not None:
            await self._conn.close(timeout=2)
            self._conn = None

    async def connect(self) -> None:
        """Connect, backing off while Postgres is away (until it returns or the sink stops)."""
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.1, max=5.0) + wait_random(0, 0.2),
            retry=retry_if_exception_type((SinkUnavailable, *PG_UNAVAILABLE)),
            stop=lambda _: self._stopping.is_set(),
            reraise=True,
            before_sleep=lambda rs: log.warning(
                "sink_postgres_backoff",
                attempt=rs.attempt_number,
                error=type(rs.outcome.exception()).__name__ if rs.outcome else None,
            ),
        ):
            with attempt:
                conn = await connect(self.postgres, application_name=f"tradepipe-sink:{self.group}")
                try:
                    await prepare_connection(conn, self.schema)
                except PG_UNAVAILABLE:
                    conn.terminate()
                    raise
                self._conn = conn
        log.info("sink_postgres_connected", schema=self.schema)

    async def retrying(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run ``fn(*args)`` until Postgres lets it finish (reconnecting in between)."""
        while True:
            try:
                return await fn(*args)
            except PG_UNAVAILABLE as exc:
                metrics.SINK_RETRIES.inc()
                log.warning("sink_postgres_unavailable", error=type(exc).__name__)
                self.drop()
                if self._stopping.is_set():
                    raise SinkUnavailable("PostgreSQL is not reachable") from exc
