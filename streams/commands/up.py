"""``tradepipe up``: the whole pipeline on embedded defaults, until Ctrl-C.

Development profile only: it also serves the HTTP ingress with a key issued for the run, and
prints that key once with a signed curl example.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from streams.embedded import EmbeddedBroker, free_port, kafka_answers
from streams.errors import ConfigError, ProcessFailed, SinkUnavailable
from streams.settings import Profile, Settings, get_settings
from streams.supervisor import Child, Supervisor
from streams.topics import ensure_topics

__all__ = ["up"]

STACK_ENV = Path(".tradepipe/stack.env")
# Simulated ticks per second: modest, and enough for the demo's orders to fill.
TICK_RATE = 20


class _Stop(Exception):
    """Raised from the SIGTERM handler to leave the supervision loop."""


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def _redacted_dsn(settings: Settings) -> str:
    from streams.logs import redact

    return str(redact(None, "", {"url": settings.postgres.dsn.get_secret_value()})["url"])


async def _check_postgres(settings: Settings) -> None:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(settings.postgres.dsn.get_secret_value()), 10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise SinkUnavailable(
            f"Postgres is not reachable at {_redacted_dsn(settings)}: {exc}"
        ) from exc
    await conn.close()


def _existing_stack() -> str | None:
    if not STACK_ENV.exists():
        return None
    for line in STACK_ENV.read_text(encoding="utf-8").splitlines():
        if line.startswith("TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS="):
            host, _, port = line.split("=", 1)[1].rpartition(":")
            if port.isdigit() and kafka_answers(host, int(port), timeout=0.5):
                return f"{host}:{port}"
    return None


def up(
    rate: Annotated[float, typer.Option(help="demo intents per second (0: no demo feed)")] = 2.0,
    duration: Annotated[
        float | None, typer.Option(help="stop by itself after this many seconds")
    ] = None,
    port: Annotated[
        int, typer.Option(help="broker port (0: 9092 if free, else any free port)")
    ] = 0,
) -> None:
    """Run broker, worker, sink, paper exchange, ingress, tick simulator and a demo feed."""
    from connectors.ingress.devkey import dev_secrets_key, issue_dev_key, signed_curl_example

    console = Console()
    running = _existing_stack()
    if running:
        raise ProcessFailed(f"a tradepipe stack is already running with its broker at {running}")
    settings = get_settings()
    if settings.profile is not Profile.DEV:
        raise ConfigError(
            "`tradepipe up` is the development stack; it refuses TRADEPIPE_PROFILE=prod"
        )
    asyncio.run(_check_postgres(settings))
    secrets_key = dev_secrets_key(settings)
    ingress_settings = settings.model_copy(
        update={
            "ingress": settings.ingress.model_copy(update={"secrets_key": SecretStr(secrets_key)})
        }
    )
    dev_key = asyncio.run(issue_dev_key(ingress_settings))
    ingress_port = _ingress_port(settings.ingress.port)

    data_dir = settings.data_dir
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if not port:
        port = (
            9092 if not kafka_answers("127.0.0.1", 9092, 0.2) and _port_free(9092) else free_port()
        )
    broker = EmbeddedBroker(port=port, log_file=logs / "broker.log")
    supervisor = Supervisor()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        broker.start()
        kafka = settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
        asyncio.run(ensure_topics(kafka))
        STACK_ENV.parent.mkdir(parents=True, exist_ok=True)
        STACK_ENV.write_text(
            f"TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS={broker.bootstrap_servers}\n", encoding="utf-8"
        )
        base_env = dict(os.environ)
        base_env.update(
            TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS=broker.bootstrap_servers,
            TRADEPIPE_LOG__JSON_OUTPUT="true",
            PYTHONUNBUFFERED="1",
        )
        for name, args, serves_metrics in _processes(rate):
            metrics_port = free_port() if serves_metrics else None
            env = dict(base_env, TRADEPIPE_METRICS_PORT=str(metrics_port or 0))
            argv = [sys.executable, "-m", "streams.cli", *args]
            supervisor.start(Child(name, argv, logs / f"{name}.log", env, metrics_port))
        # The ingress serves /metrics on its own HTTP port.
        ingress_env = dict(
            base_env,
            TRADEPIPE_INGRESS__PORT=str(ingress_port),
            TRADEPIPE_INGRESS__SECRETS_KEY=secrets_key,
        )
        argv = [sys.executable, "-m", "streams.cli", "ingress"]
        supervisor.start(Child("ingress", argv, logs / "ingress.log", ingress_env, ingress_port))
        _print_summary(console, settings, broker, supervisor, logs)
        ingress_url = f"http://{settings.ingress.host}:{ingress_port}"
        # The secret is printed here only; the next `tradepipe up` revokes the key.
        console.print(
            f"\ningress {ingress_url} — a signed order with this run's key (shown once):",
            highlight=False,
        )
        console.print(
            signed_curl_example(ingress_url, dev_key), markup=False, highlight=False, soft_wrap=True
        )
        console.print("Ctrl-C stops everything.")
        deadline = time.monotonic() + duration if duration else None
        while deadline is None or time.monotonic() < deadline:
            failed = supervisor.check()
            if failed:
                raise ProcessFailed(f"{', '.join(failed)} kept crashing; see {logs}")
            time.sleep(0.5)
    except (KeyboardInterrupt, _Stop):
        console.print("\nstopping…")
    finally:
        signal.signal(signal.SIGTERM, previous)
        stopped = supervisor.stop_all()
        broker.stop()
        STACK_ENV.unlink(missing_ok=True)
        console.print(f"stopped {stopped} process(es) and the broker")


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ingress_port(configured: int) -> int:
    return configured if configured and _port_free(configured) else free_port()


def _processes(rate: float) -> list[tuple[str, list[str], bool]]:
    """(name, arguments, serves /metrics) of each process ``up`` runs."""
    procs = [
        ("worker", ["worker"], True),
        ("sink", ["sink"], True),
        ("paper", ["paper"], True),
        ("simulator", ["simulate", "--rate", str(TICK_RATE)], False),
    ]
    if rate > 0:
        procs.append(("demo", ["demo", "--rate", str(rate)], False))
    return procs


def _print_summary(
    console: Console, settings: Settings, broker: EmbeddedBroker, sup: Supervisor, logs: Path
) -> None:
    table = Table(title="tradepipe is up", show_header=False, title_justify="left")
    table.add_row("broker", f"{broker.bootstrap_servers} (embedded Tansu, memory storage)")
    table.add_row("postgres", f"{_redacted_dsn(settings)} schema {settings.postgres.db_schema}")
    for child in sup.children:
        pid = child.proc.pid if child.proc else "-"
        metrics = (
            f"  metrics http://127.0.0.1:{child.metrics_port}/metrics" if child.metrics_port else ""
        )
        table.add_row(child.name, f"pid {pid}{metrics}  log {child.log_file}")
    table.add_row("broker log", str(logs / "broker.log"))
    table.add_row(
        "try", "tradepipe send -a ACC1 -t 2885 -q 1   |   tradepipe tail orders.events.v1 -f"
    )
    console.print(table)
