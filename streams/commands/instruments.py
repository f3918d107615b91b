"""``tradepipe instruments load FILE``: refresh the instrument master cached in Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(help="The instrument master (Angel One scrip-master JSON).", no_args_is_help=True)


@app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="OpenAPIScripMaster.json or a file of its shape")],
) -> None:
    """Parse FILE and replace the cached master in Redis; prints loaded and skipped counts."""
    import asyncio
    import json

    from connectors.instruments import InstrumentMaster, RedisInstrumentCache
    from streams.errors import ConfigError
    from streams.settings import get_settings

    try:
        rows = json.loads(file.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read scrip master {file}: {exc}") from exc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ConfigError(f"scrip master {file} is not a JSON list of objects")
    master = InstrumentMaster.from_scrip(rows)
    redis = get_settings().redis

    async def store() -> int:
        async with RedisInstrumentCache.from_url(
            redis.url.get_secret_value(), redis.key_prefix
        ) as cache:
            return await cache.store(master)

    stored = asyncio.run(store())
    typer.echo(f"loaded {stored} instruments ({master.skipped} skipped) from {file}")
