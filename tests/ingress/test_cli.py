"""``tradepipe keys`` and ``tradepipe ingress``: create, rotate, list, revoke; one-line errors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from schemas.codec import AvroCodec
from schemas.records import AuditEvent
from schemas.registry import FileRegistry
from streams.cli import app
from streams.embedded import EmbeddedBroker, free_port
from streams.settings import get_settings
from streams.topics import AUDIT
from tests.ingress.factories import FERNET_KEY
from tests.ingress.support import read_topic

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def _key_audits(records: list[Any], key_id: str) -> list[str]:
    codec = AvroCodec(FileRegistry())
    events = [codec.decode(r.value, AuditEvent) for r in records]
    return [e.action for e in events if e.subject == key_id and e.actor == "cli"]


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, migrated_schema: str, kafka_broker: EmbeddedBroker
) -> Iterator[None]:
    monkeypatch.setenv("TRADEPIPE_POSTGRES__DB_SCHEMA", migrated_schema)
    monkeypatch.setenv("TRADEPIPE_INGRESS__SECRETS_KEY", FERNET_KEY)
    monkeypatch.setenv("TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_keys_lifecycle_through_the_cli(cli_env: None) -> None:
    runner = CliRunner()

    created = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--name",
            "desk-1",
            "--scope",
            "submit,read",
            "--cidr",
            "10.0.0.0/8",
            "--cidr",
            "2001:db8::/32",
        ],
    )
    key_id = re.search(r"key_id: (\S+)", created.output).group(1)  # type: ignore[union-attr]
    rotated = runner.invoke(app, ["keys", "rotate", key_id, "--grace", "60"])
    listed = runner.invoke(app, ["keys", "list"])
    revoked = runner.invoke(app, ["keys", "revoke", key_id])
    again = runner.invoke(app, ["keys", "revoke", key_id])

    assert created.exit_code == 0, created.output
    assert "secret: tpsk_" in created.output
    assert rotated.exit_code == 0
    assert "version: 2" in rotated.output
    assert listed.exit_code == 0
    row = next(line for line in listed.output.splitlines() if line.startswith(key_id))
    assert "\t1,2\t" in row
    assert "2001:db8::/32" in row
    assert "tpsk_" not in listed.output
    assert revoked.exit_code == 0
    assert again.exit_code == 2  # an unknown or revoked key is bad input
    settings = get_settings()
    records = asyncio.run(
        read_topic(settings, AUDIT, lambda rs: len(_key_audits(rs, key_id)) >= 3, within_s=15)
    )
    assert sorted(_key_audits(records, key_id)) == ["key_created", "key_revoked", "key_rotated"]
    assert again.output.strip().splitlines() == [f"tradepipe: no active {key_id}"]


def test_bad_scope_is_a_one_line_error(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--name", "x", "--scope", "root"])

    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_missing_master_key_is_a_one_line_error(
    cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADEPIPE_INGRESS__SECRETS_KEY")
    get_settings.cache_clear()

    result = CliRunner().invoke(app, ["keys", "list"])

    assert result.exit_code == 2  # a setting to fix
    assert (
        result.output.strip()
        == "tradepipe: TRADEPIPE_INGRESS__SECRETS_KEY is not set (a Fernet key)"
    )


def test_serve_with_postgres_down_is_a_one_line_error(
    cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "TRADEPIPE_POSTGRES__DSN", f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    )
    get_settings.cache_clear()

    result = CliRunner().invoke(app, ["ingress", "serve", "--port", str(free_port())])

    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1].startswith("tradepipe: Postgres is not reachable")
    assert "Traceback" not in result.output
