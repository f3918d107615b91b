"""Applying the versioned SQL migrations (``connectors/migrations/sql/NNNN_name.sql``).

The SQL files are package data: an installed wheel reads its own copy, so the schema always
matches the code that runs. Each file runs in its own transaction with ``search_path`` set to
the configured schema, and is recorded in ``schema_migrations`` with its SHA-256. A session
advisory lock keyed by the schema makes concurrent runs safe: the second one waits, then
finds nothing to do. An applied file whose content changed is refused (fix forward with a
new file).
"""

# ruff: noqa: S608  # SQL names only the schema, validated by PostgresSettings, and fixed tables
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]  # asyncpg ships no type information
import structlog

from streams.errors import ConfigError, SinkUnavailable
from streams.settings import PostgresSettings

__all__ = [
    "MIGRATIONS_DIR",
    "PG_UNAVAILABLE",
    "Migration",
    "apply_migrations",
    "connect",
    "load_migrations",
    "quote_ident",
]

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "sql"
_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_NAMESPACE = 0x7472_6164  # "trad": keeps our advisory locks apart from others'

# What asyncpg raises when the server is not there or went away.
PG_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # A connection whose backend was terminated mid-protocol can be left in a state asyncpg
    # refuses to use ("another operation is in progress"): only a new connection helps.
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _lock_key(schema: str) -> int:
    """The advisory-lock key of ``schema`` (one migrator per schema at a time)."""
    return int.from_bytes(hashlib.sha256(schema.encode()).digest()[:4], "big", signed=True)


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; refuses gaps, duplicates and odd names."""
    if not directory.is_dir():
        raise ConfigError(f"no migrations directory at {directory}")
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ConfigError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(
            Migration(int(match["version"]), match["name"], path.read_text(encoding="utf-8"))
        )
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise ConfigError(
                f"migration {migration.version:04d} found where {expected:04d} belongs"
            )
    return found


async def connect(
    postgres: PostgresSettings, *, application_name: str = "tradepipe"
) -> asyncpg.Connection:
    """One connection to the sink's database, or ``SinkUnavailable``."""
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            postgres.dsn.get_secret_value(),
            timeout=10,
            server_settings={"application_name": application_name},
        )
    except PG_UNAVAILABLE as exc:
        raise SinkUnavailable(f"PostgreSQL is not reachable: {type(exc).__name__}") from exc
    return conn


async def apply_migrations(
    postgres: PostgresSettings, *, directory: Path = MIGRATIONS_DIR
) -> list[int]:
    """Apply the pending migrations to ``postgres.db_schema``; returns the versions applied."""
    migrations = load_migrations(directory)
    schema = postgres.db_schema
    conn = await connect(postgres, application_name="tradepipe-migrate")
    applied_now: list[int] = []
    try:
        key = _lock_key(schema)
        await conn.execute("SELECT pg_advisory_lock($1, $2)", _LOCK_NAMESPACE, key)
        try:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {quote_ident(schema)}.schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = await conn.fetch(
                f"SELECT version, checksum FROM {quote_ident(schema)}.schema_migrations"
            )
            done = {int(r["version"]): str(r["checksum"]) for r in rows}
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise ConfigError(
                            f"migration {migration.version:04d}_{migration.name} changed after it"
                            " was applied; add a new migration instead"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL search_path TO {quote_ident(schema)}")
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                applied_now.append(migration.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, $2)", _LOCK_NAMESPACE, key)
    except PG_UNAVAILABLE as exc:
        raise SinkUnavailable(
            f"PostgreSQL went away while migrating: {type(exc).__name__}"
        ) from exc
    finally:
        await conn.close()
    if applied_now:
        # One line per run, not per file: a first `tradepipe up` should not scroll.
        log.info("migrations_applied", schema=schema, versions=applied_now)
    return applied_now
