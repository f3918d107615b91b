"""The ``tradepipe`` command line.

This module is the composition root: its commands import ``connectors`` and ``agents``
lazily, inside the command, so that importing ``streams`` stays free of them.
Every error ends as one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer
from pydantic import ValidationError

from connectors.ingress.cli import keys_app, serve_command
from connectors.sink_cli import audit_verify_command, restore_command, sink_command
from streams.commands import db, instruments, paper, schemas_cmd
from streams.commands.send import send
from streams.commands.simulate import simulate
from streams.commands.tail import tail
from streams.commands.up import up
from streams.errors import IncompatibleSchema, InvalidInput, TradepipeError

__all__ = ["app", "main"]

app = typer.Typer(
    name="tradepipe",
    help="An event-driven trading pipeline on Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(up)
app.command()(send)
app.command()(tail)
app.add_typer(schemas_cmd.app, name="schemas")
app.command("ingress")(serve_command)
app.add_typer(keys_app, name="keys")
app.command("sink")(sink_command)
app.command("restore")(restore_command)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
audit_app.command("verify")(audit_verify_command)
app.add_typer(audit_app, name="audit")
app.add_typer(paper.app, name="paper")
app.command()(simulate)
app.add_typer(instruments.app, name="instruments")
app.add_typer(db.app, name="db")

topics_app = typer.Typer(help="Kafka topics of the pipeline.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")


@app.command()
def worker() -> None:
    """Run a Faust worker with every agent (joins the consumer group; scale by adding more)."""
    from agents import register_all
    from streams.settings import get_settings
    from streams.worker import run_worker

    run_worker(get_settings(), register_all)


@app.command()
def demo(
    rate: Annotated[float, typer.Option(help="intents per second")] = 2.0,
    count: Annotated[int | None, typer.Option(help="stop after this many")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
) -> None:
    """Publish a demo flow of order intents (a few of them invalid on purpose)."""
    import asyncio
    import signal

    from connectors.demo_feed import DemoFeed
    from streams.logs import configure_logging
    from streams.settings import get_settings

    settings = get_settings()
    configure_logging(level=settings.log.level, json_output=settings.log_json)
    feed = DemoFeed(settings, rate=rate, seed=seed)

    async def run() -> int:
        import asyncio as aio

        loop = aio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, feed.stop)
        return await feed.run(limit=count)

    sent = asyncio.run(run())
    typer.echo(f"sent {sent} intents")


@topics_app.command("create")
def topics_create() -> None:
    """Create every declared topic that is missing (with its declared partition count)."""
    import asyncio

    from streams.settings import get_settings
    from streams.topics import ensure_topics

    created = asyncio.run(ensure_topics(get_settings().kafka))
    typer.echo(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))


@topics_app.command("list")
def topics_list() -> None:
    """List the declared topics with their partition counts and keys."""
    from streams.settings import get_settings
    from streams.topics import all_topics

    for spec in all_topics(get_settings().kafka):
        typer.echo(f"{spec.name}\t{spec.partitions}\tkey={spec.key}")


def _exit_code(exc: TradepipeError) -> int:
    return 2 if isinstance(exc, InvalidInput | IncompatibleSchema) else 1


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tradepipe`` console script."""
    import logging

    # Client libraries log connection failures on their own; the command reports them once.
    for name in ("aiokafka", "kafka"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        app(args=argv, standalone_mode=False)
    except TradepipeError as exc:
        typer.echo(f"tradepipe: {exc}", err=True)
        sys.exit(_exit_code(exc))
    except ValidationError as exc:  # settings from the environment
        from streams.intents import describe_validation_error

        typer.echo(f"tradepipe: invalid settings: {describe_validation_error(exc)}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
