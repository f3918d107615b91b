"""``tradepipe sink``: the exactly-once Postgres sink, until SIGINT/SIGTERM."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["sink"]


def sink(
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
    import asyncio

    from connectors.sink.run import run_sink
    from streams.logs import configure_logging
    from streams.settings import get_settings

    settings = get_settings()
    configure_logging(
        level=settings.log.level, json_output=settings.log_json, file=settings.log.file
    )
    asyncio.run(
        run_sink(
            settings,
            changelog_topics=tuple(changelog_topic or ()),
            changelog_patterns=changelog_pattern,
        )
    )
