"""The exit contract, through the real entry point: every command's failure paths.

Each case runs the installed ``tradepipe`` script as a child process with a service pointed at
a closed loopback port (or with bad usage, bad input, a broken audit chain) and checks the
exit code and that stderr ends in exactly one ``tradepipe:`` line, with no traceback. Anything
else on stderr must be a log record (JSON here). The cases run in parallel threads, once per
module; each one is its own test for reporting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import PG_DSN, service_missing
from tests.sink.factories import make_audit

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "connectors" / "data" / "scrip_master_sample.json"
FERNET_KEY = "n0vhRAlIVmM4FMCyAV5qUcHBP8BkWGmMi3T8wOqFOA0="
BROKER_HINT = "(is `tradepipe up` running"
PG_HINT = "(is PostgreSQL running at TRADEPIPE_POSTGRES__DSN?)"
REDIS_HINT = "(is Redis running at TRADEPIPE_REDIS__URL?)"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _entry_point() -> list[str]:
    script = Path(sys.executable).with_name("tradepipe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "streams.cli"]


KAFKA_DOWN = {"TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{_closed_port()}"}
PG_DOWN = {"TRADEPIPE_POSTGRES__DSN": f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"}
REDIS_DOWN = {"TRADEPIPE_REDIS__URL": f"redis://127.0.0.1:{_closed_port()}/0"}
KEY = {"TRADEPIPE_INGRESS__SECRETS_KEY": FERNET_KEY}


@dataclass(frozen=True)
class Case:
    """One command line, what it runs against, and what it must exit with and say."""

    args: tuple[str, ...]
    code: int
    says: str
    env: dict[str, str] = field(default_factory=dict)


CASES: dict[str, Case] = {
    # usage
    "bare": Case((), 2, "tradepipe: missing command"),
    "typo": Case(("tial",), 2, "Did you mean 'tail'?"),
    "unknown-option": Case(("send", "--colour"), 2, "(see 'tradepipe send --help')"),
    "subgroup-bare": Case(("keys",), 2, "tradepipe: missing command"),
    "bad-flag-value": Case(("tail", "orders.events.v1", "-n", "many"), 2, "'-n'"),
    # bad input
    "send-missing-flags": Case(("send", "-a", "ACC1"), 2, "missing --token, --qty"),
    "send-bad-exchange": Case(
        ("send", "-a", "ACC1", "-t", "2885", "-q", "1", "--exchange", "XXX"), 2, "exchange"
    ),
    "send-missing-file": Case(("send", "--file", "nowhere.json"), 2, "cannot read nowhere.json"),
    "tail-unknown-topic": Case(("tail", "no.such.topic"), 2, "unknown topic no.such.topic"),
    "expire-bad-day": Case(("paper", "expire", "--day", "21-11-2026"), 2, "YYYY-MM-DD"),
    "instruments-missing-file": Case(
        ("instruments", "load", "nowhere.json"), 2, "cannot read scrip master"
    ),
    "simulate-negative-rate": Case(("simulate", "--rate", "-1"), 2, "--rate"),
    "invalid-settings": Case(
        ("topics", "list"), 2, "invalid settings", {"TRADEPIPE_KAFKA__PARTITIONS": "many"}
    ),
    "keys-no-master-key": Case(("keys", "list"), 2, "TRADEPIPE_INGRESS__SECRETS_KEY is not set"),
    # the broker unreachable
    "send-kafka-down": Case(("send", "-a", "ACC1", "-t", "2885", "-q", "1"), 1, BROKER_HINT),
    "tail-kafka-down": Case(("tail", "orders.events.v1"), 1, BROKER_HINT),
    "topics-kafka-down": Case(("topics", "create"), 1, BROKER_HINT),
    "expire-kafka-down": Case(("paper", "expire", "--day", "2026-11-21"), 1, BROKER_HINT),
    "paper-kafka-down": Case(("paper",), 1, BROKER_HINT),
    "simulate-kafka-down": Case(("simulate", "--count", "1"), 1, BROKER_HINT),
    "demo-kafka-down": Case(("demo", "--count", "1"), 1, BROKER_HINT),
    "worker-kafka-down": Case(("worker",), 1, BROKER_HINT),
    "sink-kafka-down": Case(("sink",), 1, BROKER_HINT),
    "restore-kafka-down": Case(("restore",), 1, BROKER_HINT),
    # a key change stands without Kafka; its audit event is lost, and the warning says so
    "keys-create-kafka-down": Case(
        ("keys", "create", "--name", "n", "--scope", "read"), 0, "tradepipe: warning: Kafka", KEY
    ),
    # Postgres unreachable
    "sink-pg-down": Case(("sink",), 1, PG_HINT, {"TRADEPIPE_SINK__STARTUP_TIMEOUT_S": "1"}),
    "restore-pg-down": Case(("restore",), 1, PG_HINT),
    "audit-pg-down": Case(("audit", "verify"), 1, PG_HINT),
    "keys-list-pg-down": Case(("keys", "list"), 1, PG_HINT, KEY),
    "keys-create-pg-down": Case(
        ("keys", "create", "--name", "n", "--scope", "read"), 1, PG_HINT, KEY
    ),
    "keys-rotate-pg-down": Case(("keys", "rotate", "k1"), 1, PG_HINT, KEY),
    "keys-revoke-pg-down": Case(("keys", "revoke", "k1"), 1, PG_HINT, KEY),
    "ingress-pg-down": Case(("ingress", "--port", str(_closed_port())), 1, PG_HINT, KEY),
    "ingress-serve-pg-down": Case(("ingress", "serve"), 1, PG_HINT, KEY),
    "up-pg-down": Case(("up", "--duration", "1"), 1, PG_HINT),
    "db-migrate-pg-down": Case(("db", "migrate"), 1, PG_HINT),
    "db-status-pg-down": Case(("db", "status"), 1, PG_HINT),
    "db-wait-pg-down": Case(("db", "wait", "--timeout", "1"), 1, "still not ready after 1 s"),
    # a schema without migrations (each case's schema is its own and never created)
    "db-status-check-unmigrated": Case(("db", "status", "--check"), 1, "is not migrated: 7"),
    # Redis unreachable
    "instruments-redis-down": Case(("instruments", "load", str(SAMPLE)), 1, REDIS_HINT),
    # a broken audit chain (the schema is set up by the fixture)
    "audit-broken": Case(("audit", "verify"), 1, "tradepipe: audit chain broken at row 2"),
}
_DOWN = {"kafka-down": KAFKA_DOWN, "pg-down": PG_DOWN, "redis-down": REDIS_DOWN}


@dataclass(frozen=True)
class Outcome:
    """What a child process did."""

    code: int
    stdout: str
    stderr: str
    seconds: float


def _env(schema: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    env.update(
        TRADEPIPE_POSTGRES__DSN=PG_DSN,
        TRADEPIPE_POSTGRES__DB_SCHEMA=schema,
        TRADEPIPE_REDIS__KEY_PREFIX=f"{schema}:",
        TRADEPIPE_LOG__JSON_OUTPUT="true",
        TRADEPIPE_METRICS_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _run(case: Case, schema: str, cwd: Path) -> Outcome:
    began = time.monotonic()
    done = subprocess.run(
        [*_entry_point(), *case.args],
        env=_env(schema, case.env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr, time.monotonic() - began)


async def _broken_chain(schema: str) -> None:
    """Three chained audit rows in ``schema``, the second one edited behind the trigger."""
    import asyncpg

    from connectors.migrations import apply_migrations
    from connectors.sink.audit import append_audit
    from streams.settings import PostgresSettings

    await apply_migrations(PostgresSettings(dsn=PG_DSN, db_schema=schema))
    conn = await asyncpg.connect(PG_DSN)
    try:
        async with conn.transaction():
            events = [(dataclasses.asdict(make_audit(n)), 0, n) for n in range(3)]
            await append_audit(conn, schema, events)
        await conn.execute(f'ALTER TABLE "{schema}".audit_events DISABLE TRIGGER USER')
        await conn.execute(
            f"UPDATE \"{schema}\".audit_events SET actor = 'mallory' WHERE chain_seq = 2"
        )
        await conn.execute(f'ALTER TABLE "{schema}".audit_events ENABLE TRIGGER USER')
    finally:
        await conn.close()


async def _drop(*schemas: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_DSN)
    try:
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Every case, run once, four at a time (each child is mostly waiting on imports)."""
    import asyncpg

    cwd = tmp_path_factory.mktemp("cli")
    tag = uuid.uuid4().hex[:10]
    schemas = {name: f"t_cli_{tag}_{i}" for i, name in enumerate(CASES)}
    try:
        asyncio.run(_broken_chain(schemas["audit-broken"]))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        service_missing("PostgreSQL", exc)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {
                name: pool.submit(_run, _with_down(name, case), schemas[name], cwd)
                for name, case in CASES.items()
            }
            yield {name: future.result() for name, future in futures.items()}
    finally:
        asyncio.run(_drop(*schemas.values()))


def _with_down(name: str, case: Case) -> Case:
    down = next((env for suffix, env in _DOWN.items() if name.endswith(suffix)), {})
    return dataclasses.replace(case, env={**down, **case.env})


def _assert_one_line(outcome: Outcome) -> str:
    lines = outcome.stderr.splitlines()
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert lines, "nothing on stderr"
    assert lines[-1].startswith("tradepipe: "), outcome.stderr
    for line in lines[:-1]:  # what precedes the error is log records, never a second message
        assert isinstance(json.loads(line), dict), line
    return lines[-1]


@pytest.mark.parametrize("name", list(CASES))
def test_failure_exits_with_its_code_and_one_line(name: str, outcomes: dict[str, Outcome]) -> None:
    # Arrange
    case = CASES[name]

    # Act
    outcome = outcomes[name]

    # Assert
    assert outcome.code == case.code, outcome.stderr
    line = _assert_one_line(outcome)
    assert case.says in line


def test_bare_tradepipe_lists_the_commands_on_stdout_once(outcomes: dict[str, Outcome]) -> None:
    for name in ("bare", "subgroup-bare"):
        outcome = outcomes[name]

        assert outcome.stdout.count("Usage:") == 1, outcome.stdout
    assert "restore" in outcomes["bare"].stdout
    assert "audit" in outcomes["bare"].stdout


def _ok(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_entry_point(), *args],
        env=_env("public", env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    done = _ok("--version")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"tradepipe {version('tradepipe')}"
    assert done.stderr == ""


def test_shell_completion_prints_a_script_and_completes_a_command() -> None:
    script = _ok("--show-completion", "bash")
    completion = {"_TRADEPIPE_COMPLETE": "complete_bash", "COMP_WORDS": "tradepipe ta"}
    completed = _ok(env={**completion, "COMP_CWORD": "1"})

    assert script.returncode == 0, script.stderr
    assert "_TRADEPIPE_COMPLETE=complete_bash" in script.stdout
    assert "Traceback" not in script.stderr
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["tail"]


def test_debug_prints_the_traceback_before_the_line() -> None:
    done = _ok("--debug", "topics", "create", env=KAFKA_DOWN)

    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "BrokerUnavailable" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("tradepipe: cannot reach Kafka")


def test_ctrl_c_exits_130_with_one_line() -> None:
    # Arrange: a "broker" that accepts connections and never answers, so tail waits on it
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    env = _env("public", {"TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"})
    child = subprocess.Popen(
        [*_entry_point(), "tail", "orders.events.v1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Act: Ctrl-C once it is waiting on the broker
        assert accepted.wait(60), "tail never connected"
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        server.close()
        for conn in held:
            conn.close()

    # Assert
    assert child.returncode == 130, stderr
    assert stderr.splitlines() == ["tradepipe: interrupted"]
