"""The quick commands README.md and docs/ show, run as written through the real ``tradepipe``
entry point against a broker of the test's own, the local Postgres and Redis.

Which commands are run here (and why the others are not) is in tests/unit/docs/examples.py;
placeholders the docs use (``<topic>``, ``YYYY-MM-DD``, ``FILE``) get a fixed value.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streams.embedded import EmbeddedBroker
from tests.conftest import PG_DSN, REDIS_URL
from tests.unit.docs.commands import ROOT, DocCommand, cli_root, command_path, doc_commands
from tests.unit.docs.examples import RUN

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]

HERE = "tests/integration/test_docs_examples.py"
# The docs' placeholders; a fixed day, never today's date.
PLACEHOLDERS = {
    "<topic>.dlq": "orders.intents.v1.dlq",
    "TOPIC": "orders.events.v1",
    "YYYY-MM-DD": "2026-11-20",
    "FILE": str(ROOT / "connectors" / "data" / "scrip_master_sample.json"),
}
# Created first: the other commands read the topics.
FIRST = "tradepipe topics create"
FERNET_KEY = "Q2hhbmdlTWVDaGFuZ2VNZUNoYW5nZU1lQ2hhbmdlTWU="


def _required_arguments(path: str) -> int:
    command = cli_root()
    for word in path.split()[1:]:
        command = command.commands[word]
    return sum(
        max(p.nargs, 1) for p in command.params if p.param_type_name == "argument" and p.required
    )


def _examples() -> list[tuple[str, tuple[str, ...], list[DocCommand]]]:
    """(path, arguments, where the docs show it) of every complete command run here."""
    runs: dict[tuple[str, ...], tuple[str, list[DocCommand]]] = {}
    for doc in doc_commands():
        path = command_path(doc.args)
        if HERE not in RUN.get(path, "") or (doc.file == "README.md" and doc.in_shell_block):
            continue  # the README's own session runs in tests/e2e/test_readme.py, against `up`
        args = tuple(PLACEHOLDERS.get(word, word) for word in doc.args)
        given = len(args) - len(path.split()) + 1
        if given < _required_arguments(path):
            continue  # prose naming the command ("`tradepipe instruments load` refreshes ...")
        runs.setdefault(args, (path, []))[1].append(doc)
    ordered = sorted(runs.items(), key=lambda item: (item[1][0] != FIRST, item[1][0]))
    return [(path, args, docs) for args, (path, docs) in ordered]


def _entry_point() -> list[str]:
    script = Path(sys.executable).with_name("tradepipe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "streams.cli"]


def test_every_command_meant_to_run_here_is_shown_complete_somewhere() -> None:
    # Arrange
    meant = {path for path, where in RUN.items() if HERE in where}
    # Act
    shown = {path for path, _, _ in _examples()}
    # Assert
    assert meant, "tests/unit/docs/examples.py runs nothing here"
    assert shown == meant, f"no complete example in the docs for {sorted(meant - shown)}"


async def test_documented_commands_run_as_shown(
    fresh_broker: EmbeddedBroker, pg_schema: str, redis_client: Any, unique: str, tmp_path: Path
) -> None:
    # Arrange: the environment a user's shell would have, pointed at this test's services
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    env.update(
        TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS=fresh_broker.bootstrap_servers,
        TRADEPIPE_POSTGRES__DSN=PG_DSN,
        TRADEPIPE_POSTGRES__DB_SCHEMA=pg_schema,
        TRADEPIPE_REDIS__URL=REDIS_URL,
        TRADEPIPE_REDIS__KEY_PREFIX=f"tp-test:{unique}:",
        TRADEPIPE_INGRESS__SECRETS_KEY=FERNET_KEY,
        TRADEPIPE_APP_ID=f"tp-docs-{unique}",
    )
    examples = _examples()
    # Act
    failed = []
    outputs = {}
    for path, args, docs in examples:
        result = subprocess.run(
            [*_entry_point(), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        outputs[path] = result.stdout
        if result.returncode != 0:
            where = ", ".join(doc.where for doc in docs)
            failed.append(
                f"{where}: `tradepipe {' '.join(args)}` exited {result.returncode}:"
                f" {(result.stderr or result.stdout).strip()[-400:]}"
            )
    # Assert
    assert not failed, "\n".join(failed)
    assert "orders.intents.v1" in outputs["tradepipe topics list"]
    assert "created" in outputs["tradepipe topics create"]
    assert "loaded" in outputs["tradepipe instruments load"]
    assert "key_id" in outputs["tradepipe keys list"]
