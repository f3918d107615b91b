"""``tradepipe demo``: the demo flow of order intents on its own."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["demo"]


def demo(
    rate: Annotated[float, typer.Option(help="intents per second")] = 2.0,
    count: Annotated[int | None, typer.Option(help="stop after this many")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
) -> None:
    """Publish a demo flow of order intents (a few of them invalid on purpose)."""
    import asyncio

    from connectors.demo_feed import run_demo
    from streams.errors import InvalidInput
    from streams.logs import configure_logging
    from streams.settings import get_settings

    if rate <= 0:
        raise InvalidInput("--rate must be more than 0")
    settings = get_settings()
    configure_logging(level=settings.log.level, json_output=settings.log_json)
    sent = asyncio.run(run_demo(settings, rate=rate, seed=seed, limit=count))
    typer.echo(f"sent {sent} intents")
