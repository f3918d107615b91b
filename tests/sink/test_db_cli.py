"""``tradepipe db`` through the real entry point: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_DSN

pytestmark = pytest.mark.postgres


def _db(*args: str, schema: str, cwd: Path, dsn: str = PG_DSN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    env.update(TRADEPIPE_POSTGRES__DSN=dsn, TRADEPIPE_POSTGRES__DB_SCHEMA=schema)
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "db", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_json_lists_every_migration_applied(migrated_schema: str, tmp_path: Path) -> None:
    result = _db("status", "--json", "--check", schema=migrated_schema, cwd=tmp_path)

    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0, result.stderr
    assert [r["version"] for r in rows] == list(range(1, 8))
    assert {r["state"] for r in rows} == {"applied"}
    assert all(r["applied_at"] for r in rows)


def test_wait_on_an_unmigrated_schema_gives_up_with_one_line(
    pg_schema: str, tmp_path: Path
) -> None:
    result = _db("wait", "--timeout", "1", schema=pg_schema, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("tradepipe: still not ready after 1 s: schema ")
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr


def test_migrate_with_postgres_unreachable_fails_with_one_line(tmp_path: Path) -> None:
    result = _db(
        "migrate", schema="t_unreachable", cwd=tmp_path, dsn="postgresql://postgres@127.0.0.1:1/x"
    )

    assert result.returncode == 1
    assert result.stderr.startswith("tradepipe: PostgreSQL is not reachable: ConnectionRefused")
    assert result.stderr.strip().count("\n") == 0
