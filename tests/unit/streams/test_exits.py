"""The exit contract's mapping: codes and one-line messages, by class and attribute."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.errors import (
    AuditChainBroken,
    BrokerUnavailable,
    ConfigError,
    IncompatibleSchema,
    InvalidInput,
    ProcessFailed,
    SinkUnavailable,
    StoreUnavailable,
    TradepipeError,
)
from streams.exits import INTERRUPTED, RUNTIME_FAILURE, USAGE, exit_code, one_line


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInput("x"), USAGE),
        (ConfigError("x"), USAGE),
        (IncompatibleSchema("x"), USAGE),
        (BrokerUnavailable("x"), RUNTIME_FAILURE),
        (SinkUnavailable("x"), RUNTIME_FAILURE),
        (StoreUnavailable("x"), RUNTIME_FAILURE),
        (AuditChainBroken("x"), RUNTIME_FAILURE),
        (ProcessFailed("x"), RUNTIME_FAILURE),
        (KeyboardInterrupt(), INTERRUPTED),
        (RuntimeError("a bug"), RUNTIME_FAILURE),
    ],
)
def test_exit_code_follows_the_error_class(error: BaseException, code: int) -> None:
    assert exit_code(error) == code


def test_a_new_error_class_is_mapped_by_its_attributes() -> None:
    class Refused(TradepipeError):
        exit_code = 2
        hint = "ask the operator"

    assert exit_code(Refused("no")) == 2
    assert one_line(Refused("no")) == "tradepipe: no (ask the operator)"


def test_one_line_carries_the_hint_and_folds_newlines() -> None:
    line = one_line(BrokerUnavailable("cannot reach Kafka\n  at 127.0.0.1:1"))

    assert line == (
        "tradepipe: cannot reach Kafka at 127.0.0.1:1"
        " (is `tradepipe up` running, and TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS its address?)"
    )


def test_an_unexpected_error_names_its_type_and_points_at_debug() -> None:
    assert one_line(RuntimeError("boom")) == (
        "tradepipe: unexpected RuntimeError: boom (run with --debug for the traceback)"
    )


def test_typer_test_runner_gets_the_same_contract() -> None:
    result = CliRunner().invoke(app, ["tial"])

    assert result.exit_code == USAGE
    assert result.output.strip() == (
        "tradepipe: No such command 'tial'. Did you mean 'tail'? (see 'tradepipe --help')"
    )


def test_every_command_and_flag_in_use_still_exists() -> None:
    runner = CliRunner()
    for args in (
        ["up", "--rate", "2", "--duration", "1", "--port", "0"],
        ["worker"],
        ["sink", "--changelog-topic", "t", "--changelog-pattern", "p"],
        ["paper", "expire", "--day", "2026-11-21"],
        ["simulate", "--rate", "1", "--seed", "1", "--duration", "1", "--count", "1"],
        ["ingress", "--host", "127.0.0.1", "--port", "1"],
        ["ingress", "serve", "--host", "127.0.0.1", "--port", "1"],
        ["keys", "create", "--name", "n", "--scope", "read", "--cidr", "c", "--account", "a"],
        ["keys", "rotate", "k", "--grace", "1"],
        ["keys", "revoke", "k", "--version", "1"],
        ["keys", "list"],
        ["send", "-a", "A", "-t", "1", "-q", "1", "--type", "LIMIT", "--price", "1"],
        ["tail", "t", "--from-beginning", "-n", "1", "--follow"],
        ["restore", "--force", "--no-intents", "--no-positions", "--no-paper"],
        ["audit", "verify"],
        ["instruments", "load", "f.json"],
        ["demo", "--rate", "1", "--count", "1", "--seed", "1"],
        ["schemas", "check"],
        ["schemas", "lock"],
        ["topics", "create"],
        ["topics", "list"],
    ):
        # --help after the arguments parses them all and runs nothing
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)


def test_building_the_cli_and_its_help_import_no_connector() -> None:
    # Arrange: a fresh interpreter, so that nothing this test session imported counts
    probe = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from streams.cli import app\n"
        "for args in ([], ['--help'], ['keys', '--help'], ['sink', '--help']):\n"
        "    CliRunner().invoke(app, args)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )

    # Act
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )

    # Assert
    loaded = json.loads(done.stdout)
    heavy = ("connectors", "agents", "aiokafka", "asyncpg", "polars", "faust", "confluent_kafka")
    assert [m for m in loaded if m.split(".")[0] in heavy] == []
    assert "streams.cli" in loaded
