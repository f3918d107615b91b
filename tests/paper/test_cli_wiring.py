"""The paper exchange, the simulator and the instrument loader are wired into the CLI and
into the processes ``tradepipe up`` supervises."""

from __future__ import annotations

from typer.testing import CliRunner

from streams.cli import app
from streams.commands.up import TICK_RATE, _processes


def test_up_supervises_the_paper_exchange_and_a_modest_simulator() -> None:
    # Act
    procs = {name: (args, metrics) for name, args, metrics in _processes(2.0)}

    # Assert
    assert procs["paper"] == (["paper"], True)
    assert procs["simulator"] == (["simulate", "--rate", str(TICK_RATE)], False)
    assert 0 < TICK_RATE <= 100


def test_cli_lists_paper_simulate_and_instruments_commands() -> None:
    # Act
    result = CliRunner().invoke(app, ["--help"])
    paper = CliRunner().invoke(app, ["paper", "--help"])

    # Assert
    assert result.exit_code == 0
    for command in ("paper", "simulate", "instruments"):
        assert command in result.output
    assert "expire" in paper.output
