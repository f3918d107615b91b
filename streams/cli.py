"""The ``tradepipe`` command line: the root app, and one mount line per command group.

Each command lives in its own module under ``streams/commands/``, a thin typer wrapper over a
plain function of its component; those modules import ``connectors`` and ``agents`` inside
the command, so building this app (and ``tradepipe --help``) imports neither. What a command's
outcome exits with is decided in one place, ``streams.exits``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from streams.commands import (
    audit,
    db,
    demo,
    ingress,
    instruments,
    keys,
    paper,
    restore,
    schemas_cmd,
    send,
    simulate,
    sink,
    tail,
    topics,
    up,
    worker,
)
from streams.exits import TradepipeGroup, enable_debug

__all__ = ["app", "main"]

app = typer.Typer(
    cls=TradepipeGroup,
    name="tradepipe",
    help="An event-driven trading pipeline on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(show: bool) -> None:
    if show:
        try:
            typer.echo(f"tradepipe {version('tradepipe')}")
        except PackageNotFoundError:  # a checkout on sys.path, not installed
            typer.echo("tradepipe (not installed)")
        raise typer.Exit


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback of an error, not only its line.")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """An event-driven trading pipeline on Kafka."""
    if debug:
        enable_debug()


app.command()(up.up)
app.command()(worker.worker)
app.command()(sink.sink)
app.add_typer(paper.app, name="paper")
app.command()(simulate.simulate)
app.add_typer(ingress.app, name="ingress")
app.add_typer(keys.app, name="keys")
app.command()(send.send)
app.command()(tail.tail)
app.command()(restore.restore)
app.add_typer(audit.app, name="audit")
app.add_typer(instruments.app, name="instruments")
app.command()(demo.demo)
app.add_typer(schemas_cmd.app, name="schemas")
app.add_typer(topics.app, name="topics")
app.add_typer(db.app, name="db")


def main() -> None:
    """Entry point of the ``tradepipe`` console script."""
    import logging

    # Client libraries log connection failures on their own; the command reports them once.
    for name in ("aiokafka", "kafka"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    app()


if __name__ == "__main__":
    main()
