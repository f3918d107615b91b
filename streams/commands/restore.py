"""``tradepipe restore``: rebuild a lost broker from Postgres."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["restore"]


def restore(
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
    import asyncio

    import structlog

    from connectors.restore import restore as run_restore
    from streams.logs import configure_logging
    from streams.settings import get_settings

    settings = get_settings()
    configure_logging(
        level=settings.log.level, json_output=settings.log_json, file=settings.log.file
    )
    summary = asyncio.run(
        run_restore(
            settings,
            force=force,
            republish_intents=intents,
            republish_positions=positions,
            migrate_paper=paper,
        )
    )
    structlog.get_logger(__name__).info("restore_command_done", seconds=round(summary.seconds, 2))
