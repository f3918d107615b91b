"""Running the sink as a process: ``run_sink``, what ``tradepipe sink`` calls."""

from __future__ import annotations

import asyncio
import signal

from connectors.postgres_sink import PostgresSink
from streams.settings import Settings

__all__ = ["run_sink"]


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
    await sink.start(startup_timeout_s=settings.sink.startup_timeout_s)
    runner = asyncio.create_task(sink.run())
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            runner.result()  # re-raise what stopped the loop
    finally:
        waiter.cancel()
        await sink.stop()
