"""``tradepipe paper``: run the paper exchange; ``tradepipe paper expire``: end the day."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime
from typing import Annotated

import typer

from streams.settings import Settings, get_settings

__all__ = ["app"]

app = typer.Typer(
    help="The paper exchange (run it with no subcommand).", invoke_without_command=True
)


@app.callback()
def paper(ctx: typer.Context) -> None:
    """Run the paper exchange: paper.orders.v1 + md.ticks.v1 in, fills and order events out."""
    if ctx.invoked_subcommand is None:
        _run(get_settings())


def _run(settings: Settings) -> None:
    from connectors.instruments import RedisInstrumentCache
    from connectors.paper import PaperExchange
    from streams.clock import Clock
    from streams.codec_factory import make_codec
    from streams.logs import configure_logging
    from streams.observe import serve_metrics
    from streams.topics import ensure_topics

    configure_logging(
        level=settings.log.level, json_output=settings.log_json, file=settings.log.file
    )

    async def main() -> None:
        await ensure_topics(settings.kafka)
        redis = settings.redis
        async with RedisInstrumentCache.from_url(
            redis.url.get_secret_value(), redis.key_prefix
        ) as cache:
            master = await cache.warm(Clock.from_settings(settings.clock).trading_day())
        serve_metrics(settings.metrics_port, settings.metrics_host)
        exchange = PaperExchange(settings, make_codec(settings), master)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, exchange.request_stop)
        async with exchange:
            await exchange.wait()

    asyncio.run(main())


@app.command()
def expire(
    day: Annotated[
        str | None,
        typer.Option(help="trading day, YYYY-MM-DD (default: the clock's trading day, IST)"),
    ] = None,
) -> None:
    """Day end: expire every working paper order (a marker on each paper.orders.v1 partition)."""
    from connectors.paper import expire_marker
    from schemas.records import utcnow
    from streams.clock import Clock
    from streams.codec_factory import make_codec
    from streams.errors import InvalidInput
    from streams.kafka import aiokafka_producer, trace_headers
    from streams.topics import PAPER_ORDERS, ensure_topics

    settings = get_settings()
    if day is None:
        day = Clock.from_settings(settings.clock).trading_day().isoformat()
    else:
        try:
            datetime.strptime(day, "%Y-%m-%d")  # noqa: DTZ007 - a calendar day, no time zone
        except ValueError as exc:
            raise InvalidInput(f"--day must be YYYY-MM-DD, not {day!r}") from exc
    marker = expire_marker(day, created_at=utcnow())
    value = make_codec(settings).encode(PAPER_ORDERS, marker)

    async def send() -> int:
        await ensure_topics(settings.kafka)
        producer = aiokafka_producer(settings)
        await producer.start()
        try:
            partitions = sorted(await producer.partitions_for(PAPER_ORDERS))
            futures = [
                await producer.send(
                    PAPER_ORDERS,
                    value,
                    key=b"*",
                    partition=p,
                    headers=trace_headers(marker.trace_id),
                )
                for p in partitions
            ]
            await asyncio.gather(*futures)
            return len(futures)
        finally:
            await producer.stop()

    typer.echo(f"day-end expiry for {day} sent to {asyncio.run(send())} partition(s)")
