"""The Postgres schema: versioned SQL migrations (package data in ``sql/``), their status.

``tradepipe db migrate`` / ``tradepipe db status`` / ``tradepipe db wait`` are thin wrappers
over ``apply_migrations``, ``migration_status`` and ``wait_migrated``; every process that
uses Postgres calls ``prepare_schema`` first.
"""

from connectors.migrations.runner import (
    MIGRATIONS_DIR,
    PG_UNAVAILABLE,
    Migration,
    apply_migrations,
    connect,
    load_migrations,
    quote_ident,
)
from connectors.migrations.status import (
    MigrationState,
    SchemaNotMigrated,
    SchemaStatus,
    migration_status,
    prepare_schema,
    require_migrated,
    wait_migrated,
)

__all__ = [
    # the files and applying them
    "MIGRATIONS_DIR",
    "Migration",
    "apply_migrations",
    "load_migrations",
    # what a schema has
    "MigrationState",
    "SchemaNotMigrated",
    "SchemaStatus",
    "migration_status",
    "prepare_schema",
    "require_migrated",
    "wait_migrated",
    # connections
    "PG_UNAVAILABLE",
    "connect",
    "quote_ident",
]
