"""``tradepipe simulate``: seeded market ticks onto ``md.ticks.v1`` at a chosen rate."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["simulate"]


def simulate(
    rate: Annotated[float, typer.Option(help="ticks per second (0: as fast as possible)")] = 20.0,
    seed: Annotated[int, typer.Option(help="random-walk seed")] = 7,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    count: Annotated[int | None, typer.Option(help="stop after this many ticks")] = None,
    instruments: Annotated[
        Path | None, typer.Option(help="scrip-master JSON (default: the shipped sample)")
    ] = None,
) -> None:
    """Publish simulated ticks (random walk with bid/ask and volume), keyed by instrument token."""
    import asyncio
    import time

    from connectors.instruments import InstrumentMaster
    from connectors.tick_feed import SimulatorFeed
    from streams.clock import Clock
    from streams.codec_factory import make_codec
    from streams.errors import InvalidInput
    from streams.logs import configure_logging
    from streams.settings import get_settings
    from streams.topics import ensure_topics

    if rate < 0:
        raise InvalidInput("--rate must be 0 or more")
    settings = get_settings()
    configure_logging(
        level=settings.log.level, json_output=settings.log_json, file=settings.log.file
    )
    master = (
        InstrumentMaster.load(instruments)
        if instruments is not None
        else InstrumentMaster.sample(Clock.from_settings(settings.clock).trading_day())
    )
    if not len(master):
        raise InvalidInput(f"no tradable instruments in {instruments}")
    asyncio.run(ensure_topics(settings.kafka))
    feed = SimulatorFeed(settings, make_codec(settings), master, rate=rate, seed=seed)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _s, _f: feed.stop())
    began = time.monotonic()
    sent = feed.run(duration=duration, count=count)
    elapsed = time.monotonic() - began
    typer.echo(f"published {sent} ticks in {elapsed:.2f}s ({sent / max(elapsed, 1e-9):.0f}/s)")
