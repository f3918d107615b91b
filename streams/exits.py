"""The exit contract of ``tradepipe``: the one place that turns an outcome into an exit code.

0 success, 1 a runtime failure (a service down, a broken audit chain, a process that failed),
2 bad usage or bad input (a typo, a missing flag, settings or a file that do not validate),
130 interrupted. A failure is one line on stderr, ``tradepipe: <what happened> (<hint>)``;
the traceback is printed only under ``tradepipe --debug``.

Errors carry their own code and hint (``TradepipeError.exit_code`` and ``.hint``), so a new
error class is mapped by its attributes, not by a list here. The root command group is a
``TradepipeGroup``, which applies the contract in ``main``: the console script, ``python -m
streams.cli`` and typer's test runner all get the same codes and messages.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
from pydantic import ValidationError

# typer >= 0.29 bundles its own click and raises these, not click's (pinned in pyproject).
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from streams.errors import TradepipeError

__all__ = [
    # the codes
    "INTERRUPTED",
    "OK",
    "RUNTIME_FAILURE",
    "USAGE",
    # the mapping
    "TradepipeGroup",
    "enable_debug",
    "exit_code",
    "one_line",
    "report",
    "warn",
]

OK = 0
RUNTIME_FAILURE = 1
USAGE = 2
INTERRUPTED = 130

_PREFIX = "tradepipe: "
_debug = {"on": False}


def enable_debug() -> None:
    """Print the traceback of the error that ends this run (``tradepipe --debug``)."""
    _debug["on"] = True


def exit_code(exc: BaseException) -> int:
    """The exit code for an error that ended a command."""
    if isinstance(exc, TradepipeError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt | typer.Abort):
        return INTERRUPTED
    if isinstance(exc, typer.TyperException):  # click's errors: usage errors carry 2
        return int(exc.exit_code)
    if isinstance(exc, ValidationError):  # settings from the environment
        return USAGE
    return RUNTIME_FAILURE


def one_line(exc: BaseException) -> str:
    """The message for ``exc``: one line starting ``tradepipe:``, a hint in parentheses."""
    hint: str | None = None
    if isinstance(exc, TradepipeError):
        message, hint = str(exc) or type(exc).__name__, exc.hint
    elif isinstance(exc, KeyboardInterrupt | typer.Abort):
        message = "interrupted"
    elif isinstance(exc, NoArgsIsHelpError):
        message, hint = "missing command", "the commands are listed above"
    elif isinstance(exc, UsageError):
        message = exc.format_message().rstrip(".")
        if exc.ctx is not None:
            hint = f"see '{exc.ctx.command_path} --help'"
    elif isinstance(exc, typer.TyperException):
        message = exc.format_message()
    elif isinstance(exc, ValidationError):
        from streams.intents import describe_validation_error

        message = f"invalid settings: {describe_validation_error(exc)}"
        hint = "see docs/configuration.md"
    else:
        message = f"unexpected {type(exc).__name__}: {exc}"
        hint = "run with --debug for the traceback"
    text = " ".join(message.split())
    return _PREFIX + (f"{text} ({hint})" if hint else text)


def warn(message: str) -> None:
    """A warning that does not end the command: one line on stderr."""
    typer.echo(f"{_PREFIX}warning: {message}", err=True)


def report(exc: BaseException) -> int:
    """Print the one line for ``exc`` (and the traceback under ``--debug``); its exit code."""
    # NoArgsIsHelpError: typer has already printed the help (stdout) when it raises
    if _debug["on"] and not isinstance(exc, KeyboardInterrupt):
        traceback.print_exception(exc, file=sys.stderr)
    typer.echo(one_line(exc), err=True)
    return exit_code(exc)


class TradepipeGroup(TyperGroup):
    """The root command group: runs the command, then applies the exit contract."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; exit (or, with ``standalone_mode=False``, return) its code."""
        _debug["on"] = False
        try:
            result = super().main(
                args=args,
                prog_name=prog_name or "tradepipe",
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except SystemExit:
            raise
        # The one place an error of any kind ends a command: everything below is reported
        # as one line, the others were already wrapped where they were raised.
        except BaseException as exc:  # noqa: BLE001
            code = report(exc)
        else:
            # Without standalone mode typer returns typer.Exit's code, or the command's value.
            code = result if isinstance(result, int) else OK
            if code == INTERRUPTED:
                typer.echo(f"{_PREFIX}interrupted", err=True)
        if standalone_mode:
            sys.exit(code)
        return code
