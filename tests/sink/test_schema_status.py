"""The schema check: status of each migration, and prod processes refusing an unmigrated schema."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

import connectors
from connectors.ingress.runtime import IngressRuntime
from connectors.migrations import (
    MIGRATIONS_DIR,
    SchemaNotMigrated,
    apply_migrations,
    load_migrations,
    migration_status,
    prepare_schema,
    require_migrated,
    wait_migrated,
)
from connectors.postgres_sink import PostgresSink
from streams.settings import IngressSettings, PostgresSettings, Profile, Settings
from tests.conftest import PG_DSN
from tests.ingress.factories import FERNET_KEY

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("agents", "connectors", "schemas", "streams")
_DDL = re.compile(r"\b(CREATE|ALTER|DROP)\s+(TABLE|SCHEMA|INDEX|TRIGGER|FUNCTION)\b", re.I)


def _postgres(schema: str) -> PostgresSettings:
    return PostgresSettings(dsn=PG_DSN, db_schema=schema)  # type: ignore[arg-type]


def test_migrations_are_package_data_of_the_connectors_package() -> None:
    package = Path(connectors.__file__).resolve().parent

    assert package in MIGRATIONS_DIR.parents
    assert [m.version for m in load_migrations()] == list(range(1, 8))


def test_no_product_code_outside_the_migrations_runs_ddl() -> None:
    offenders = []
    for folder in PRODUCT:
        for path in sorted((REPO / folder).rglob("*.py")):
            if MIGRATIONS_DIR.parent in path.parents:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _DDL.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")

    assert offenders == []


async def test_status_lists_every_migration_pending_then_applied(pg_schema: str) -> None:
    postgres = _postgres(pg_schema)

    before = await migration_status(postgres)
    await apply_migrations(postgres)
    after = await migration_status(postgres)

    assert [m.state for m in before.migrations] == ["pending"] * 7
    assert not before.current
    assert "7 pending (0001_sink_offsets," in before.problem()
    assert [m.state for m in after.migrations] == ["applied"] * 7
    assert all(m.applied_at is not None for m in after.migrations)
    assert after.current
    assert after.problem() == ""


async def test_status_reports_an_edited_file_and_versions_from_a_newer_release(
    pg_schema: str, tmp_path: Path
) -> None:
    postgres = _postgres(pg_schema)
    directory = tmp_path / "sql"
    shutil.copytree(MIGRATIONS_DIR, directory)
    newest = sorted(directory.glob("*.sql"))[-1]
    (directory / "0008_newer.sql").write_text("CREATE TABLE newer (id int);\n", encoding="utf-8")
    await apply_migrations(postgres, directory=directory)
    (directory / "0008_newer.sql").unlink()
    newest.write_text(newest.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")

    status = await migration_status(postgres, directory=directory)

    assert [m.label for m in status.changed] == [newest.stem]
    assert status.unknown == (8,)
    assert not status.current
    with pytest.raises(SchemaNotMigrated, match="changed after they were applied"):
        await require_migrated(postgres, directory=directory)


async def test_require_names_what_is_pending_and_the_command_that_fixes_it(pg_schema: str) -> None:
    with pytest.raises(SchemaNotMigrated, match=r"7 pending .*run `tradepipe db migrate`"):
        await require_migrated(_postgres(pg_schema))


async def test_wait_gives_up_after_its_bound(pg_schema: str) -> None:
    with pytest.raises(SchemaNotMigrated, match="still not ready after 1 s"):
        await wait_migrated(_postgres(pg_schema), timeout_s=1.0, interval_s=0.2)


async def test_prepare_applies_in_dev_and_only_checks_in_prod(pg_schema: str) -> None:
    postgres = _postgres(pg_schema)

    with pytest.raises(SchemaNotMigrated):
        await prepare_schema(postgres, Profile.PROD)
    await prepare_schema(postgres, Profile.DEV)
    await prepare_schema(postgres, Profile.PROD)

    assert (await migration_status(postgres)).current


async def _tables(schema: str) -> set[str]:
    conn = await asyncpg.connect(PG_DSN)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
    finally:
        await conn.close()
    return {str(r["table_name"]) for r in rows}


async def test_prod_sink_refuses_an_unmigrated_schema_and_creates_nothing(
    make_settings: Callable[..., Settings], pg_schema: str
) -> None:
    settings = make_settings(profile=Profile.PROD)
    sink = PostgresSink(settings, serve_metrics=False)

    with pytest.raises(SchemaNotMigrated, match="tradepipe db migrate"):
        await sink.start(startup_timeout_s=5)

    assert await _tables(pg_schema) == set()


async def test_prod_ingress_refuses_an_unmigrated_schema_and_creates_nothing(
    make_settings: Callable[..., Settings], pg_schema: str
) -> None:
    settings = make_settings(profile=Profile.PROD, ingress=IngressSettings(secrets_key=FERNET_KEY))
    runtime = IngressRuntime(settings)

    try:
        with pytest.raises(SchemaNotMigrated, match="tradepipe db migrate"):
            await runtime.start()
    finally:
        await runtime.stop()

    assert await _tables(pg_schema) == set()


async def test_the_ingress_key_tables_come_from_the_migrations(migrated_schema: str) -> None:
    tables = await _tables(migrated_schema)

    assert {"ingress_api_keys", "ingress_api_secrets", "schema_migrations"} <= tables
