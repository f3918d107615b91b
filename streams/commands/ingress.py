"""``tradepipe ingress`` (or ``tradepipe ingress serve``): the signed HTTP ingress."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["app", "serve"]

app = typer.Typer(
    help="The signed HTTP ingress (serves with no subcommand, or with `serve`).",
    invoke_without_command=True,
)

_Host = Annotated[str | None, typer.Option(help="bind address (default: settings)")]
_Port = Annotated[int | None, typer.Option(help="port (default: settings)")]


@app.callback()
def ingress(ctx: typer.Context, host: _Host = None, port: _Port = None) -> None:
    """Serve the ingress until interrupted (``tradepipe ingress serve`` does the same)."""
    if ctx.invoked_subcommand is None:
        _serve(host, port)


@app.command("serve")
def serve(host: _Host = None, port: _Port = None) -> None:
    """Serve the ingress until interrupted."""
    _serve(host, port)


def _serve(host: str | None, port: int | None) -> None:
    import asyncio

    from connectors.ingress.keys import check_key_store
    from connectors.ingress.server import serve as run_server
    from streams.logs import configure_logging
    from streams.settings import get_settings

    settings = get_settings()
    configure_logging(
        level=settings.log.level, json_output=settings.log_json, file=settings.log.file
    )
    # Fail fast with one line (master key, Postgres, tables) before uvicorn starts.
    asyncio.run(check_key_store(settings))
    run_server(settings, host=host, port=port)
