"""A real Postgres restart mid-run: the sink backs off, resumes, and writes everything once.

Runs under ``CI=true`` (CI has the machine to itself) or with ``TRADEPIPE_TEST_PG_RESTART=1``:
it restarts the machine's server, which disrupts anyone else using it. The server is always
started again on the way out.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from streams import metrics
from streams.embedded import EmbeddedBroker
from streams.settings import PostgresSettings, Settings, SinkSettings
from streams.topics import ORDER_EVENTS, ensure_topics
from tests.conftest import IN_CI
from tests.sink.factories import make_order_event
from tests.sink.helpers import PG_DSN, produce_records, running_sink, wait_for_rows

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("TRADEPIPE_TEST_PG_RESTART") != "1" and not IN_CI,
        reason="restarts the machine's Postgres; runs in CI, or set TRADEPIPE_TEST_PG_RESTART=1",
    ),
]


@pytest.fixture
async def restart_settings(
    sink_broker: EmbeddedBroker,
    make_settings: Callable[..., Settings],
    unique: str,
) -> AsyncIterator[Settings]:
    """Like ``sink_settings``, but the schema is dropped over a connection made afterwards
    (the shared ``pg_schema`` fixture's connection does not survive the restart)."""
    settings = make_settings(
        sink_broker.bootstrap_servers,
        postgres=PostgresSettings(dsn=PG_DSN, db_schema=f"t_{unique}_r"),  # type: ignore[arg-type]
        sink=SinkSettings(group_id=f"sink-{unique}", batch_max_records=2000, batch_max_wait_ms=100),
    )
    await ensure_topics(settings.kafka)
    yield settings
    await _wait_for_postgres()
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{settings.postgres.db_schema}" CASCADE')
    finally:
        await conn.close()


def _pg_ctl(action: str) -> None:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    ctl = shutil.which("pg_ctlcluster")
    assert ctl is not None, "pg_ctlcluster is not installed"
    subprocess.run(
        [ctl, "--skip-systemctl-redirect", versions[-1], "main", action], check=True, timeout=60
    )


async def _wait_for_postgres() -> None:
    for _ in range(100):
        try:
            conn = await asyncpg.connect(PG_DSN)
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.2)
            continue
        await conn.close()
        return
    raise AssertionError("Postgres did not come back")


async def test_postgres_restart_mid_run_is_waited_out_exactly_once(
    restart_settings: Settings,
) -> None:
    sink_settings = restart_settings
    schema = sink_settings.postgres.db_schema
    events = [make_order_event(i, seq=s, intent=i) for s in (1, 2) for i in range(2000)]
    retries_before = metrics.SINK_RETRIES._value.get()

    try:
        async with running_sink(sink_settings):
            await produce_records(sink_settings, ORDER_EVENTS, events[:2000])
            await wait_for_rows(schema, "order_events", 1)
            await asyncio.to_thread(_pg_ctl, "restart")
            await _wait_for_postgres()
            await produce_records(sink_settings, ORDER_EVENTS, events[2000:])
            await wait_for_rows(schema, "order_events", len(events), timeout_s=90)
            await asyncio.sleep(1.0)
    finally:
        if not await _answers():
            await asyncio.to_thread(_pg_ctl, "start")

    conn = await asyncpg.connect(PG_DSN)
    try:
        total = await conn.fetchval(f'SELECT count(*) FROM "{schema}".order_events')
        orders = await conn.fetchval(f'SELECT count(*) FROM "{schema}".orders WHERE seq = 2')
    finally:
        await conn.close()
    assert total == len(events)
    assert orders == 2000
    assert metrics.SINK_RETRIES._value.get() > retries_before


async def _answers() -> bool:
    try:
        conn = await asyncpg.connect(PG_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True
