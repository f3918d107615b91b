"""Migrations: applied in order, once, under concurrent starts; edited or gapped files refused."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from connectors.migrations import MIGRATIONS_DIR, apply_migrations, load_migrations
from streams.errors import ConfigError
from streams.settings import PostgresSettings

pytestmark = pytest.mark.postgres

DSN = "postgresql://postgres@127.0.0.1:5432/test"


async def test_applies_every_migration_once_in_order(pg_schema: str) -> None:
    settings = PostgresSettings(db_schema=pg_schema)

    first = await apply_migrations(settings)
    second = await apply_migrations(settings)

    versions = [m.version for m in load_migrations()]
    assert first == versions
    assert second == []
    conn = await asyncpg.connect(DSN)
    try:
        rows = await conn.fetch(f'SELECT version FROM "{pg_schema}".schema_migrations ORDER BY 1')
    finally:
        await conn.close()
    assert [r["version"] for r in rows] == versions


async def test_concurrent_starts_apply_each_migration_exactly_once(pg_schema: str) -> None:
    settings = PostgresSettings(db_schema=pg_schema)

    results = await asyncio.gather(*(apply_migrations(settings) for _ in range(4)))

    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in load_migrations()]


async def test_refuses_a_migration_edited_after_it_was_applied(
    pg_schema: str, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    settings = PostgresSettings(db_schema=pg_schema)
    await apply_migrations(settings, directory=directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")

    with pytest.raises(ConfigError, match="changed after it was applied"):
        await apply_migrations(settings, directory=directory)


def test_refuses_a_gap_in_migration_versions(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0003_c.sql").write_text("SELECT 1;")

    with pytest.raises(ConfigError, match="0003 found where 0002 belongs"):
        load_migrations(tmp_path)
