"""The audit trail's hash chain: intact after sinking, and any edit or deletion is caught."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from typer.testing import CliRunner

from connectors.sink.audit import audit_verify
from streams.cli import app
from streams.settings import Settings
from streams.topics import AUDIT
from tests.sink.factories import make_audit
from tests.sink.helpers import PG_DSN, produce_records, running_sink, wait_for_rows

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
async def sunk_audit(sink_settings: Settings) -> Settings:
    """Settings whose schema holds 40 chained audit rows."""
    await produce_records(sink_settings, AUDIT, [make_audit(i) for i in range(40)])
    async with running_sink(sink_settings):
        await wait_for_rows(sink_settings.postgres.db_schema, "audit_events", 40)
    return sink_settings


async def _as_owner(schema: str, *statements: str) -> None:
    """What an attacker with owner rights does: switch the trigger off, change rows."""
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'ALTER TABLE "{schema}".audit_events DISABLE TRIGGER USER')
        for sql in statements:
            await conn.execute(sql.format(s=schema))
        await conn.execute(f'ALTER TABLE "{schema}".audit_events ENABLE TRIGGER USER')
    finally:
        await conn.close()


async def test_chain_of_sunk_audit_events_verifies(sunk_audit: Settings) -> None:
    verdict = await audit_verify(sunk_audit)

    assert verdict.ok
    assert verdict.rows == 40


async def test_update_of_an_audit_row_is_refused_by_the_database(sunk_audit: Settings) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(
                f'UPDATE "{sunk_audit.postgres.db_schema}".audit_events SET outcome = $1', "x"
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(f'DELETE FROM "{sunk_audit.postgres.db_schema}".audit_events')
    finally:
        await conn.close()


async def test_edited_row_is_named_as_the_first_broken_link(sunk_audit: Settings) -> None:
    await _as_owner(
        sunk_audit.postgres.db_schema,
        "UPDATE \"{s}\".audit_events SET outcome = 'denied' WHERE chain_seq = 17",
    )

    verdict = await audit_verify(sunk_audit)

    assert not verdict.ok
    assert verdict.broken_seq == 17
    assert verdict.reason == "content does not match its hash"


async def test_deleted_row_is_named_as_the_first_broken_link(sunk_audit: Settings) -> None:
    await _as_owner(
        sunk_audit.postgres.db_schema, 'DELETE FROM "{s}".audit_events WHERE chain_seq = 23'
    )

    verdict = await audit_verify(sunk_audit)

    assert not verdict.ok
    assert verdict.broken_seq == 23


async def test_deleted_newest_row_is_caught_by_the_chain_head(sunk_audit: Settings) -> None:
    await _as_owner(
        sunk_audit.postgres.db_schema, 'DELETE FROM "{s}".audit_events WHERE chain_seq = 40'
    )

    verdict = await audit_verify(sunk_audit)

    assert not verdict.ok
    assert verdict.broken_seq == 40


async def test_audit_verify_command_exits_non_zero_with_one_line_on_a_broken_chain(
    sunk_audit: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _as_owner(
        sunk_audit.postgres.db_schema,
        "UPDATE \"{s}\".audit_events SET actor = 'mallory' WHERE chain_seq = 5",
    )
    monkeypatch.setenv("TRADEPIPE_POSTGRES__DB_SCHEMA", sunk_audit.postgres.db_schema)
    from streams.settings import get_settings

    get_settings.cache_clear()
    try:
        # The command runs its own event loop: give it a thread of its own.
        result = await asyncio.to_thread(CliRunner().invoke, app, ["audit", "verify"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1
    assert (
        result.output.strip().splitlines()[-1].startswith("tradepipe: audit chain broken at row 5")
    )
    assert "Traceback" not in result.output
