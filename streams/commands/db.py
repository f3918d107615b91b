"""``tradepipe db``: apply the Postgres migrations, show and wait for their status.

Thin wrappers over ``connectors.migrations`` (imported inside each command). Production runs
``migrate`` once per release (a compose one-shot service, a Kubernetes Job); the processes
only check the schema, and ``wait`` lets an init container hold a pod until it is current.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from streams.settings import Settings, get_settings

__all__ = ["app"]

app = typer.Typer(help="The Postgres schema: migrations.", no_args_is_help=True)


def _settings() -> Settings:
    from streams.logs import configure_logging

    settings = get_settings()
    configure_logging(
        level=settings.log.level, json_output=settings.log_json, file=settings.log.file
    )
    return settings


@app.command()
def migrate() -> None:
    """Apply the pending migrations to the configured schema (concurrent runs are safe)."""
    from connectors.migrations import apply_migrations, load_migrations

    settings = _settings()
    schema = settings.postgres.db_schema
    applied = asyncio.run(apply_migrations(settings.postgres))
    if applied:
        typer.echo(
            f"schema {schema}: applied {len(applied)} migration(s), now at {applied[-1]:04d}"
        )
    else:
        typer.echo(f"schema {schema}: up to date ({len(load_migrations())} migrations)")


@app.command()
def status(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 unless every migration is applied, unchanged.")
    ] = False,
) -> None:
    """Show each migration this release ships: applied (when), pending or changed."""
    import orjson

    from connectors.migrations import SchemaNotMigrated, migration_status

    settings = _settings()
    result = asyncio.run(migration_status(settings.postgres))
    for m in result.migrations:
        when = m.applied_at.isoformat() if m.applied_at else None
        if json_output:
            row = {"version": m.version, "name": m.name, "state": m.state, "applied_at": when}
            typer.echo(orjson.dumps(row).decode())
        else:
            typer.echo(f"{m.label}\t{m.state}\t{when or '-'}")
    if not json_output:
        summary = "current" if result.current else result.problem()
        typer.echo(f"schema {result.schema}: {summary}")
        if result.unknown:
            newer = ", ".join(f"{v:04d}" for v in result.unknown)
            typer.echo(f"schema {result.schema}: also has migrations from a newer release: {newer}")
    if check and not result.current:
        raise SchemaNotMigrated(f"schema {result.schema!r} is not migrated: {result.problem()}")


@app.command()
def wait(
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600.0,
) -> None:
    """Wait until every migration is applied (for init containers); exit 1 on timeout."""
    from connectors.migrations import wait_migrated

    settings = _settings()
    result = asyncio.run(wait_migrated(settings.postgres, timeout_s=timeout))
    typer.echo(f"schema {result.schema}: current ({len(result.migrations)} migrations)")
