"""The sink's commands, as a typer sub-app the ``tradepipe`` CLI mounts.

``tradepipe sink`` runs the Postgres sink until SIGINT/SIGTERM, ``tradepipe restore`` rebuilds
a lost broker from Postgres, ``tradepipe audit verify`` walks the audit hash chain. Each command
is a thin wrapper over a plain async function (``run_sink``, ``restore``, ``audit_verify``) that
tests call directly. Errors print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import structlog
import typer

from connectors.migrations import PG_UNAVAILABLE, connect, prepare_schema
from connectors.postgres_sink import PostgresSink
from connectors.restore import RestoreSummary, restore
from connectors.sink.audit import AuditVerdict, verify_chain
from streams.errors import SinkUnavailable, TradepipeError
from streams.logs import configure_logging
from streams.settings import Settings, get_settings

__all__ = ["app", "audit_verify", "restore", "run_sink"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Postgres sink and recovery.")


async def run_sink(
    settings: Settings,
    *,
    changelog_topics: tuple[str, ...] = (),
    changelog_patterns: list[str] | None = None,
    stop: asyncio.Event | None = None,
    serve_metrics: bool = True,
) -> None:
    """Run the sink until ``stop`` is set; without ``stop``, until SIGINT or SIGTERM."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (RuntimeError, ValueError):  # not the main thread: nothing to install
                break
    sink = PostgresSink(
        settings,
        changelog_topics=changelog_topics,
        changelog_patterns=changelog_patterns,
        serve_metrics=serve_metrics,
    )
    await sink.start()
    runner = asyncio.create_task(sink.run())
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            runner.result()  # re-raise what stopped the loop
    finally:
        waiter.cancel()
        await sink.stop()


async def audit_verify(settings: Settings) -> AuditVerdict:
    """Walk the audit hash chain; the verdict names the first broken link."""
    await prepare_schema(settings.postgres, settings.profile)
    conn = await connect(settings.postgres, application_name="tradepipe-audit-verify")
    try:
        return await verify_chain(conn, settings.postgres.db_schema)
    except PG_UNAVAILABLE as exc:
        raise SinkUnavailable(f"PostgreSQL went away: {type(exc).__name__}") from exc
    finally:
        await conn.close()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except TradepipeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2 if exc.code in {"config", "invalid_input"} else 1) from None


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(
        level=settings.log.level, json_output=settings.log_json, file=settings.log.file
    )
    return settings


@app.command("sink")
def sink_command(
    changelog_topic: Annotated[
        list[str] | None,
        typer.Option(
            "--changelog-topic", help="A Faust changelog topic to keep in table_state (repeatable)."
        ),
    ] = None,
    changelog_pattern: Annotated[
        list[str] | None,
        typer.Option(
            "--changelog-pattern",
            help="Regex of changelog topics (repeatable; default '<app_id>-.+-changelog').",
        ),
    ] = None,
) -> None:
    """Copy the pipeline's streams and table state into Postgres, exactly once."""
    settings = _settings()
    _run(
        run_sink(
            settings,
            changelog_topics=tuple(changelog_topic or ()),
            changelog_patterns=changelog_pattern,
        )
    )


@app.command("restore")
def restore_command(
    force: Annotated[
        bool, typer.Option(help="Re-seed changelogs even if they hold records.")
    ] = False,
    intents: Annotated[bool, typer.Option(help="Re-publish intents with no order yet.")] = True,
    positions: Annotated[bool, typer.Option(help="Re-publish the latest positions.")] = True,
    paper: Annotated[
        bool, typer.Option(help="Carry the paper exchange's books over to the new cluster.")
    ] = True,
) -> None:
    """Recreate topics and table changelogs from Postgres after the broker was lost."""
    settings = _settings()
    summary: RestoreSummary = _run(
        restore(
            settings,
            force=force,
            republish_intents=intents,
            republish_positions=positions,
            migrate_paper=paper,
        )
    )
    log.info("restore_command_done", seconds=round(summary.seconds, 2))


@app.command("audit-verify")
def audit_verify_command() -> None:
    """Walk the audit hash chain and name the first broken link."""
    verdict = _run(audit_verify(_settings()))
    if not verdict.ok:
        typer.echo(f"audit chain broken at row {verdict.broken_seq}: {verdict.reason}", err=True)
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {verdict.rows} rows")


if __name__ == "__main__":
    app()
