"""Find the ``tradepipe …`` commands that README.md and docs/*.md show, and check them
against the real CLI's click command tree (command path, options, argument count).

A command is taken from an inline code span that starts with ``tradepipe`` or from a line
of a shell code block (bash, sh, shell, console). Prose may show a placeholder or an
optional part (``tradepipe tail <topic>.dlq``, ``[--day YYYY-MM-DD]``); those are accepted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import typer.main

__all__ = [
    "ROOT",
    "DocCommand",
    "cli_root",
    "command_path",
    "commands_in_text",
    "doc_commands",
    "doc_files",
    "problems",
]

ROOT = Path(__file__).resolve().parents[3]
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})
_FENCE = re.compile(r"^\s*```\s*([A-Za-z0-9_-]*)")
_SPAN = re.compile(r"`(tradepipe(?: [^`]*)?)`")
_SHELL_START = re.compile(r"^(?:\$ )?(?:\S*/)?tradepipe(?: |$)")


@dataclass(frozen=True, slots=True)
class DocCommand:
    """One command as a doc shows it: where, and its words after ``tradepipe``."""

    file: str
    line: int
    text: str
    args: tuple[str, ...]
    in_shell_block: bool

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def doc_files() -> list[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _split(text: str) -> tuple[str, ...]:
    words = shlex.split(text, comments=True)
    # Optional parts in prose: "[--day D]" -> "--day", "D"; "..." / "…" stand for more of the same.
    cleaned = [w.strip("[]") for w in words]
    return tuple(w for w in cleaned if w and w not in {"...", "…", "|"})


def _shell_commands(line: str) -> Iterator[str]:
    """The ``tradepipe`` commands on one shell line (``a && b``, ``a; b`` and ``a | b`` split)."""
    for part in re.split(r"&&|;|\|\|?", line.split(" #", 1)[0]):
        part = part.strip()
        if _SHELL_START.match(part):
            yield part.removeprefix("$ ")


def _spans(lines: list[tuple[int, str]], file: str) -> list[DocCommand]:
    """Inline ``tradepipe`` spans of prose lines (a span may wrap onto the next line)."""
    if not lines:
        return []
    text = "\n".join(line for _, line in lines)
    found = []
    for match in _SPAN.finditer(text):
        number = lines[text.count("\n", 0, match.start())][0]
        command = match.group(1).replace("\n", " ")
        found.append(DocCommand(file, number, command, _split(command)[1:], False))
    return found


def commands_in_text(text: str, file: str) -> list[DocCommand]:
    """Every ``tradepipe`` command in the markdown ``text``."""
    found: list[DocCommand] = []
    fence: str | None = None
    prose: list[tuple[int, str]] = []
    pending = ""
    for number, line in enumerate(text.splitlines(), start=1):
        opened = _FENCE.match(line)
        if opened:
            found += _spans(prose, file)
            prose = []
            fence = None if fence is not None else opened.group(1).lower()
            continue
        if fence is None:
            prose.append((number, line))
        elif fence in SHELL_LANGUAGES:
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            full, pending = pending + line, ""
            for command in _shell_commands(full.strip()):
                found.append(DocCommand(file, number, command, _split(command)[1:], True))
    found += _spans(prose, file)
    return sorted(found, key=lambda c: c.line)


def doc_commands() -> list[DocCommand]:
    """Every ``tradepipe`` command in README.md and docs/*.md."""
    found: list[DocCommand] = []
    for path in doc_files():
        found += commands_in_text(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    return found


@cache
def cli_root() -> Any:
    """The click command behind ``streams.cli.app`` (typer may bundle its own click)."""
    from streams.cli import app

    return typer.main.get_command(app)


def _context(command: Any, name: str, parent: Any = None) -> Any:
    return command.context_class(command, info_name=name, parent=parent)


def _options(command: Any, ctx: Any) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for param in command.get_params(ctx):
        if param.param_type_name == "option":
            for opt in (*param.opts, *param.secondary_opts):
                names[opt] = param
    return names


def _takes_value(param: Any) -> int:
    return 0 if (param.is_flag or param.count) else max(int(param.nargs), 1)


def _max_arguments(command: Any) -> int | None:
    total = 0
    for param in command.params:
        if param.param_type_name == "argument":
            if param.nargs < 0:
                return None
            total += param.nargs
    return total


def command_path(args: tuple[str, ...]) -> str:
    """``tradepipe`` and the sub-command words, as far as they go (for grouping and messages)."""
    command, path = cli_root(), ["tradepipe"]
    for word in args:
        subs = getattr(command, "commands", None)
        if word.startswith("-") or not subs or word not in subs:
            break
        command = subs[word]
        path.append(word)
    return " ".join(path)


def problems(doc: DocCommand) -> list[str]:
    """What does not exist in the CLI for ``doc``; empty when the command is right."""
    command = cli_root()
    path = ["tradepipe"]
    ctx = _context(command, "tradepipe")
    options = _options(command, ctx)
    positional = 0
    found: list[str] = []
    words = list(doc.args)
    while words:
        word = words.pop(0)
        if word == "--":
            break
        if word.startswith("-") and len(word) > 1 and not word[1:2].isdigit():
            name, has_value, _ = word.partition("=")
            param = options.get(name)
            if param is None and not name.startswith("--") and len(name) > 2:
                param = options.get(name[:2])  # -n20: a short option with its value attached
                has_value = "=" if param is not None and _takes_value(param) else has_value
            if param is None:
                known = ", ".join(sorted(options)) or "none"
                found.append(f"`{' '.join(path)}` has no option {name} (options: {known})")
                break  # whether it takes a value is unknown, so the rest cannot be read
            if not has_value:
                del words[: _takes_value(param)]
            continue
        subs = getattr(command, "commands", None)
        if subs and positional == 0:
            if word in subs:
                command = subs[word]
                path.append(word)
                ctx = _context(command, word, ctx)
                options = _options(command, ctx)
                continue
            if not _max_arguments(command):
                found.append(
                    f"`{' '.join(path)}` has no sub-command {word!r}"
                    f" (sub-commands: {', '.join(sorted(subs))})"
                )
                break
        most = _max_arguments(command)
        positional += 1
        if most is not None and positional > most:
            found.append(f"`{' '.join(path)}` takes {most} argument(s); {word!r} is one too many")
            break
    return found
