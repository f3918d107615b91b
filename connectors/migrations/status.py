"""Which migrations a schema has, and the check every process makes before it uses Postgres.

Migrations are the only DDL: no process creates a table on its own. In the dev profile
(``tradepipe up``, tests) a process applies what is pending itself, through
``apply_migrations``, so a fresh local database just works. In the prod profile it only
checks, and refuses to start with ``SchemaNotMigrated`` until ``tradepipe db migrate`` (the
compose one-shot service, the Kubernetes Job) has run: the role that owns the tables migrates,
the processes need no DDL rights, and a version skew is found before a write fails.
"""

# ruff: noqa: S608  # SQL names only the schema, validated by PostgresSettings, and fixed tables
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from connectors.migrations.runner import (
    MIGRATIONS_DIR,
    PG_UNAVAILABLE,
    apply_migrations,
    connect,
    load_migrations,
    quote_ident,
)
from streams.errors import SinkUnavailable, TradepipeError
from streams.settings import PostgresSettings, Profile

__all__ = [
    "MigrationState",
    "SchemaNotMigrated",
    "SchemaStatus",
    "migration_status",
    "prepare_schema",
    "require_migrated",
    "wait_migrated",
]


class SchemaNotMigrated(TradepipeError):
    """The schema lacks migrations this release ships (or one of them was edited)."""

    code = "schema_not_migrated"


@dataclass(frozen=True, slots=True)
class MigrationState:
    """One migration this release ships, and whether the schema has it."""

    version: int
    name: str
    applied_at: datetime | None
    # Applied, but from a file whose content differs from the one shipped now.
    changed: bool = False

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def state(self) -> str:
        if self.applied_at is None:
            return "pending"
        return "changed" if self.changed else "applied"


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Every shipped migration's state in one schema."""

    schema: str
    migrations: tuple[MigrationState, ...]
    # Applied versions this release does not ship: a newer release has migrated the schema.
    # Migrations only add, so an older process may keep running on it.
    unknown: tuple[int, ...] = ()

    @property
    def pending(self) -> list[MigrationState]:
        return [m for m in self.migrations if m.applied_at is None]

    @property
    def changed(self) -> list[MigrationState]:
        return [m for m in self.migrations if m.changed]

    @property
    def current(self) -> bool:
        """Every shipped migration applied, unchanged."""
        return not self.pending and not self.changed

    def problem(self) -> str:
        """One line saying what is missing (empty when current)."""
        parts = []
        if self.pending:
            names = ", ".join(m.label for m in self.pending)
            parts.append(f"{len(self.pending)} pending ({names})")
        if self.changed:
            names = ", ".join(m.label for m in self.changed)
            parts.append(f"changed after they were applied: {names}")
        return "; ".join(parts)


async def migration_status(
    postgres: PostgresSettings, *, directory: Path = MIGRATIONS_DIR
) -> SchemaStatus:
    """What ``postgres.db_schema`` has of the migrations in ``directory`` (read only)."""
    shipped = load_migrations(directory)
    schema = postgres.db_schema
    conn = await connect(postgres, application_name="tradepipe-db-status")
    try:
        table = f"{quote_ident(schema)}.schema_migrations"
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
        rows = (
            await conn.fetch(f"SELECT version, checksum, applied_at FROM {table}") if exists else []
        )
    except PG_UNAVAILABLE as exc:
        raise SinkUnavailable(f"PostgreSQL went away: {type(exc).__name__}") from exc
    finally:
        await conn.close()
    done = {int(r["version"]): (str(r["checksum"]), r["applied_at"]) for r in rows}
    states = []
    for migration in shipped:
        checksum, applied_at = done.get(migration.version, (None, None))
        states.append(
            MigrationState(
                migration.version,
                migration.name,
                applied_at,
                changed=checksum is not None and checksum != migration.checksum,
            )
        )
    known = {m.version for m in shipped}
    return SchemaStatus(schema, tuple(states), tuple(sorted(set(done) - known)))


async def require_migrated(
    postgres: PostgresSettings, *, directory: Path = MIGRATIONS_DIR
) -> SchemaStatus:
    """The schema's status, or ``SchemaNotMigrated`` naming what is missing."""
    status = await migration_status(postgres, directory=directory)
    if not status.current:
        raise SchemaNotMigrated(
            f"schema {status.schema!r} is not migrated: {status.problem()};"
            " run `tradepipe db migrate`"
        )
    return status


async def wait_migrated(
    postgres: PostgresSettings,
    *,
    timeout_s: float,
    interval_s: float = 2.0,
    directory: Path = MIGRATIONS_DIR,
) -> SchemaStatus:
    """Poll until the schema is current (Postgres down counts as not yet); bounded."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await require_migrated(postgres, directory=directory)
        except (SchemaNotMigrated, SinkUnavailable) as exc:
            if time.monotonic() + interval_s > deadline:
                raise SchemaNotMigrated(f"still not ready after {timeout_s:g} s: {exc}") from exc
        await asyncio.sleep(interval_s)


async def prepare_schema(
    postgres: PostgresSettings, profile: Profile, *, directory: Path = MIGRATIONS_DIR
) -> None:
    """Before a process uses Postgres: apply pending migrations (dev) or require them (prod)."""
    if profile is Profile.DEV:
        await apply_migrations(postgres, directory=directory)
    else:
        await require_migrated(postgres, directory=directory)
