"""The built wheel, installed into a fresh venv outside the checkout, migrates and sinks.

What the production image does: the locked dependencies (``requirements/main.txt``, hashes
required) and then the package without dependencies into a venv, then ``tradepipe db
migrate`` and ``tradepipe sink`` from it. This proves the migrations ship as package data (the venv
reads its own copy, not the checkout's), that the console script works without the source
tree, and that the prod profile's schema check passes once ``db migrate`` has run.

The wheel is built from a copy of the repository's files (``git ls-files``), so the checkout
gets no ``build/`` or ``*.egg-info``. The install uses the uv that ``make`` bootstrapped
(``.tools/``; its cache makes a re-run fast), or pip when there is none. The embedded broker
is the test's own, started by this process: the fresh venv needs only the Kafka address, not
the broker wheel.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.embedded import EmbeddedBroker
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.conftest import PG_DSN
from tests.sink.factories import make_intent
from tests.sink.helpers import count_rows, produce_records, wait_for_rows

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.slow,
    # Building and installing under a shared CPU: minutes, bounded.
    pytest.mark.timeout(1200),
]

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 600
INTENTS = 50


def _run(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _copy_sources(target: Path) -> None:
    """The files a fresh clone would have (tracked, and new ones not ignored)."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO)
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bin/`` of a fresh venv with the wheel of this checkout installed."""
    if shutil.which("git") is None:
        pytest.fail("git is needed to list the repository's files")
    root = tmp_path_factory.mktemp("wheel")
    src, dist, venv = root / "src", root / "dist", root / "venv"
    _copy_sources(src)
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
        cwd=root,
        timeout=BUILD_TIMEOUT_S,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("tradepipe-*.whl")
    made = _run([sys.executable, "-m", "venv", str(venv)], cwd=root)
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    lock = str(REPO / "requirements" / "main.txt")
    uv = sorted(REPO.glob(".tools/uv-*/bin/uv"))
    if uv:
        steps = [
            [str(uv[-1]), "pip", "sync", "-q", "--python", python, "--require-hashes", lock],
            [str(uv[-1]), "pip", "install", "-q", "--python", python, "--no-deps", str(wheel)],
        ]
    else:
        steps = [
            [python, "-m", "pip", "install", "-q", "--require-hashes", "-r", lock],
            [python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        ]
    for step in steps:
        done = _run(step, cwd=root, timeout=BUILD_TIMEOUT_S)
        assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin"


def _env(settings: Settings, data_dir: Path) -> dict[str, str]:
    """The prod profile against the embedded broker (which needs idempotence off)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEPIPE_", "PYTHON"))}
    env.update(
        TRADEPIPE_PROFILE="prod",
        TRADEPIPE_APP_ID=settings.app_id,
        TRADEPIPE_DATA_DIR=str(data_dir),
        TRADEPIPE_METRICS_PORT="0",
        TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        TRADEPIPE_KAFKA__ENABLE_IDEMPOTENCE="false",
        TRADEPIPE_KAFKA__SESSION_TIMEOUT_S="6",
        TRADEPIPE_KAFKA__HEARTBEAT_INTERVAL_S="1",
        TRADEPIPE_POSTGRES__DSN=PG_DSN,
        TRADEPIPE_POSTGRES__DB_SCHEMA=settings.postgres.db_schema,
        TRADEPIPE_SINK__GROUP_ID=f"{settings.app_id}-sink",
        TRADEPIPE_SINK__BATCH_MAX_WAIT_MS="100",
    )
    return env


def test_the_wheel_reads_its_own_migrations(installed: Path, tmp_path: Path) -> None:
    code = "import connectors.migrations as m; print(m.MIGRATIONS_DIR)"

    found = _run([str(installed / "python"), "-c", code], cwd=tmp_path)

    assert found.returncode == 0, found.stderr
    migrations = Path(found.stdout.strip())
    assert installed.parent in migrations.parents
    assert REPO not in migrations.parents
    assert sorted(p.name for p in migrations.glob("*.sql"))[-1] == "0007_ingress_api_keys.sql"


async def test_installed_wheel_migrates_reports_status_and_sinks(
    installed: Path,
    fresh_broker: EmbeddedBroker,
    make_settings: Callable[..., Settings],
    pg_schema: str,
    tmp_path: Path,
) -> None:
    settings = make_settings(fresh_broker.bootstrap_servers)
    env = _env(settings, tmp_path / "data")
    tradepipe = str(installed / "tradepipe")

    before = _run([tradepipe, "db", "status", "--check"], cwd=tmp_path, env=env)
    migrate = _run([tradepipe, "db", "migrate"], cwd=tmp_path, env=env)
    again = _run([tradepipe, "db", "migrate"], cwd=tmp_path, env=env)
    after = _run([tradepipe, "db", "status", "--check"], cwd=tmp_path, env=env)

    assert before.returncode == 1, before.stderr
    assert before.stderr.startswith("tradepipe: schema ") and "7 pending" in before.stderr
    assert migrate.returncode == 0, migrate.stderr
    assert f"schema {pg_schema}: applied 7 migration(s), now at 0007" in migrate.stdout
    assert f"schema {pg_schema}: up to date (7 migrations)" in again.stdout
    assert after.returncode == 0, after.stderr
    assert after.stdout.count("\tapplied\t") == 7
    assert f"schema {pg_schema}: current" in after.stdout

    await ensure_topics(settings.kafka)
    log = (tmp_path / "sink.log").open("w", encoding="utf-8")
    sink = subprocess.Popen(
        [tradepipe, "sink"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        sent = await produce_records(
            settings, "orders.intents.v1", [make_intent(n) for n in range(INTENTS)]
        )
        have = await wait_for_rows(pg_schema, "order_intents", INTENTS, timeout_s=120)
    finally:
        sink.send_signal(signal.SIGTERM)
        try:
            code = sink.wait(timeout=60)
        except subprocess.TimeoutExpired:
            sink.kill()
            code = sink.wait(timeout=10)
        log.close()
    output = (tmp_path / "sink.log").read_text(encoding="utf-8")

    assert sent == INTENTS
    assert have == INTENTS, output[-2000:]
    assert code == 0, output[-2000:]
    assert await count_rows(pg_schema, "sink_offsets") >= 1
