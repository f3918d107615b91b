"""``tradepipe schemas check | lock``: schema evolution against the versions kept in the repo."""

from __future__ import annotations

import typer

from streams.errors import IncompatibleSchema

__all__ = ["app"]

app = typer.Typer(help="Avro schema evolution (BACKWARD_TRANSITIVE).", no_args_is_help=True)


@app.command()
def check() -> None:
    """Fail if a current .avsc breaks compatibility with a kept version or is not locked."""
    from schemas.compat import check as run_check

    problems = run_check()
    if problems:
        for problem in problems:
            typer.echo(f"{problem.record}: {problem.message}")
        raise IncompatibleSchema(f"{len(problems)} schema problem(s)")
    typer.echo("schemas ok: every .avsc is locked and BACKWARD_TRANSITIVE compatible")


@app.command()
def lock() -> None:
    """Keep a new version of each changed .avsc (refused if incompatible) and give it an id."""
    from schemas.compat import lock as run_lock

    try:
        added = run_lock()
    except ValueError as exc:
        raise IncompatibleSchema(str(exc)) from exc
    typer.echo("\n".join(added) if added else "nothing to lock")
