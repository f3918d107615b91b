"""``tradepipe topics create | list``: the pipeline's declared Kafka topics."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(help="Kafka topics of the pipeline.", no_args_is_help=True)


@app.command("create")
def create() -> None:
    """Create every declared topic that is missing (with its declared partition count)."""
    import asyncio

    from streams.settings import get_settings
    from streams.topics import ensure_topics

    created = asyncio.run(ensure_topics(get_settings().kafka))
    typer.echo(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))


@app.command("list")
def list_() -> None:
    """List the declared topics with their partition counts and keys."""
    from streams.settings import get_settings
    from streams.topics import all_topics

    for spec in all_topics(get_settings().kafka):
        typer.echo(f"{spec.name}\t{spec.partitions}\tkey={spec.key}")
