"""Every ``tradepipe …`` command in README.md and docs/*.md exists in the CLI, with its flags."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streams.cli import app
from tests.unit.docs.commands import (
    DocCommand,
    command_path,
    commands_in_text,
    doc_commands,
    problems,
)
from tests.unit.docs.examples import NOT_RUN, RUN

_HINT = (
    "fix the doc (or the CLI); a command that does not exist yet is not documented"
    " (tests/unit/docs/commands.py explains what is accepted)"
)


def _report(failures: list[tuple[DocCommand, str]]) -> str:
    lines = [f"{doc.where}: `{doc.text}`: {problem}" for doc, problem in failures]
    return "\n".join([f"{len(lines)} documented command(s) do not match the CLI:", *lines, _HINT])


def test_every_documented_command_and_flag_exists() -> None:
    # Arrange
    documented = doc_commands()
    # Act
    failures = [(doc, problem) for doc in documented for problem in problems(doc)]
    # Assert
    assert not failures, _report(failures)


def test_the_docs_show_the_commands_a_user_needs() -> None:
    # Arrange: the extractor must see the README's shell block and the prose spans, or the
    # check above would pass on nothing
    documented = doc_commands()
    # Act
    shell = {doc.text for doc in documented if doc.file == "README.md" and doc.in_shell_block}
    paths = {command_path(doc.args) for doc in documented}
    # Assert
    assert "tradepipe send -a ACC1 -t 2885 -q 1 --type LIMIT --price 2900.03" in shell
    assert {"tradepipe up", "tradepipe tail", "tradepipe restore", "tradepipe worker"} <= paths
    assert len(documented) > 50


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("`tradepipe lag`", "has no sub-command 'lag'"),
        ("`tradepipe backtest --from 2026-11-02`", "has no sub-command 'backtest'"),
        ("`tradepipe up serve`", "`tradepipe up` takes 0 argument(s); 'serve' is one too many"),
        ("`tradepipe tail orders.events.v1 --since 5m`", "`tradepipe tail` has no option --since"),
        ("`tradepipe keys rotate KEY_ID --graze 10`", "`tradepipe keys rotate` has no option"),
        ("`tradepipe topics drop`", "`tradepipe topics` has no sub-command 'drop'"),
    ],
)
def test_a_command_or_flag_that_does_not_exist_is_reported(line: str, expected: str) -> None:
    # Arrange
    [doc] = commands_in_text(f"Run {line} now.\n", "example.md")
    # Act
    found = problems(doc)
    # Assert
    assert len(found) == 1
    assert expected in found[0]


def test_shell_blocks_placeholders_and_wrapped_spans_are_understood() -> None:
    # Arrange
    text = "\n".join(
        [
            "```bash",
            "source .venv/bin/activate",
            "tradepipe send -a ACC1 -q 5 \\",
            "  --type LIMIT --price 1.05   # a comment",
            "cd /tmp && .venv/bin/tradepipe topics list | head",
            "```",
            "```text",
            "tradepipe is up",
            "```",
            "Use `tradepipe paper expire [--day YYYY-MM-DD]` or `tradepipe keys revoke KEY_ID",
            "[--version N]`; `tradepipe-sink` and `tradepipe_fills_total` are not commands.",
        ]
    )
    # Act
    found = commands_in_text(text, "example.md")
    # Assert
    assert [(doc.line, doc.args) for doc in found] == [
        (4, ("send", "-a", "ACC1", "-q", "5", "--type", "LIMIT", "--price", "1.05")),
        (5, ("topics", "list")),
        (10, ("paper", "expire", "--day", "YYYY-MM-DD")),
        (10, ("keys", "revoke", "KEY_ID", "--version", "N")),
    ]
    assert all(problems(doc) == [] for doc in found)


def test_every_documented_command_is_run_or_says_why_not() -> None:
    # Arrange
    documented = {command_path(doc.args) for doc in doc_commands()}
    # Act
    unclassified = sorted(documented - RUN.keys() - NOT_RUN.keys())
    stale = sorted((RUN.keys() | NOT_RUN.keys()) - documented)
    # Assert
    assert not unclassified, (
        f"documented but neither run nor excused: {unclassified}; add each to RUN (and run it)"
        " or to NOT_RUN with the reason, in tests/unit/docs/examples.py"
    )
    assert not stale, f"tests/unit/docs/examples.py lists commands no doc shows: {stale}"
    assert not RUN.keys() & NOT_RUN.keys()


def test_help_of_every_documented_command_works() -> None:
    # Arrange: every documented command path answers --help (it is wired and imports)
    runner = CliRunner()
    paths = sorted({command_path(doc.args) for doc in doc_commands()})
    # Act
    failed = {}
    for path in paths:
        result = runner.invoke(app, [*path.split()[1:], "--help"])
        if result.exit_code != 0 or "Usage" not in result.output:
            failed[path] = (result.exit_code, result.output[-300:])
    # Assert
    assert not failed, failed
    assert len(paths) > 10
