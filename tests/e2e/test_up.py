"""``tradepipe up`` end to end: send intents from another "terminal", find them in Postgres,
stop with Ctrl-C and find no process left behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from streams.embedded import free_port
from tests.conftest import PG_DSN

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


def _env(schema: str, app_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    env.update(
        TRADEPIPE_POSTGRES__DSN=PG_DSN,
        TRADEPIPE_POSTGRES__DB_SCHEMA=schema,
        TRADEPIPE_APP_ID=app_id,
        TRADEPIPE_SINK__GROUP_ID=f"{app_id}-sink",
        PYTHONUNBUFFERED="1",
    )
    return env


def _tradepipe(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait_for_stack(cwd: Path, up: subprocess.Popen[bytes], timeout: float = 60) -> None:
    stack = cwd / ".tradepipe" / "stack.env"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.exists():
            return
        assert up.poll() is None, (cwd / "up.log").read_text()
        time.sleep(0.2)
    raise AssertionError("tradepipe up did not write its stack file")


async def _statuses(
    schema: str, intent_ids: list[str], want: int, timeout: float
) -> dict[str, set[str]]:
    conn = await asyncpg.connect(PG_DSN)
    try:
        deadline = time.monotonic() + timeout
        found: dict[str, set[str]] = {}
        while time.monotonic() < deadline:
            try:
                rows = await conn.fetch(
                    f'SELECT intent_id, status, reason_code FROM "{schema}".order_events '
                    "WHERE intent_id = ANY($1)",
                    intent_ids,
                )
            except asyncpg.UndefinedTableError:
                rows = []
            found = {}
            for row in rows:
                found.setdefault(row["intent_id"], set()).add(
                    f"{row['status']}:{row['reason_code'] or ''}"
                )
            if len(found) >= want:
                return found
            await asyncio.sleep(0.5)
        return found
    finally:
        await conn.close()


async def test_up_send_postgres_and_ctrl_c_leaves_nothing_behind(
    tmp_path: Path, unique: str, pg_schema: str
) -> None:
    # Arrange: `tradepipe up` in its own folder, as a user would run it
    env = _env(pg_schema, f"tp-e2e-{unique}")
    with (tmp_path / "up.log").open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "up", "--port", str(free_port()), "--rate", "5"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_stack(tmp_path, up)
        # Act: intents from "another terminal" (same folder, no broker address given)
        limit = _tradepipe(
            "send",
            "-a",
            "E2E1",
            "-t",
            "2885",
            "-q",
            "1",
            "--type",
            "LIMIT",
            "--price",
            "2900.05",
            cwd=tmp_path,
            env=env,
        )
        market = _tradepipe("send", "-a", "E2E2", "-t", "3045", "-q", "1", cwd=tmp_path, env=env)
        # a quantity of 0 is refused at the door now; an off-tick price is the agent's to reject
        zero = _tradepipe(
            "send",
            "-a",
            "E2E1",
            "-t",
            "2885",
            "-q",
            "1",
            "--type",
            "LIMIT",
            "--price",
            "2900.03",
            cwd=tmp_path,
            env=env,
        )
        bad_file = tmp_path / "bad.json"
        bad_file.write_text(
            json.dumps(
                {
                    "account_id": "E2E3",
                    "instrument_token": "2885",
                    "exchange": "NASDAQ",
                    "side": "BUY",
                    "quantity": 1,
                    "order_type": "MARKET",
                    "intent_id": f"bad-{unique}",
                }
            )
        )
        malformed = _tradepipe("send", "--file", str(bad_file), cwd=tmp_path, env=env)
        # Assert: the CLI's answers
        for result in (limit, market, zero):
            assert result.returncode == 0, result.stderr
        assert malformed.returncode == 2
        assert malformed.stderr.strip().count("\n") == 0
        assert "exchange" in malformed.stderr and "Traceback" not in malformed.stderr
        ids = {
            name: json.loads(r.stdout)["intent_id"]
            for name, r in (("limit", limit), ("market", market), ("zero", zero))
        }
        # Assert: each one in Postgres with the right status, the malformed one nowhere
        found = await _statuses(pg_schema, [*ids.values(), f"bad-{unique}"], want=3, timeout=120)
        assert "VALIDATED:" in found.get(ids["limit"], set()), (
            found,
            (tmp_path / ".tradepipe/logs/sink.log").read_text()[-3000:],
        )
        assert "VALIDATED:" in found.get(ids["market"], set())
        assert found.get(ids["zero"]) == {"REJECTED:PRICE_NOT_ON_TICK"}
        assert f"bad-{unique}" not in found
        tail = _tradepipe(
            "tail", "orders.events.v1", "--from-beginning", "-n", "500", cwd=tmp_path, env=env
        )
        assert ids["zero"] in tail.stdout
        children = _descendants(up.pid)
        assert len(children) >= 4  # broker, worker, sink, demo
    finally:
        # Act: Ctrl-C
        up.send_signal(signal.SIGINT)
        try:
            code = up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
    # Assert: everything stopped, nothing left
    assert code == 0, (tmp_path / "up.log").read_text()[-2000:]
    deadline = time.monotonic() + 10
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(children) == set()
    assert not (tmp_path / ".tradepipe" / "stack.env").exists()
    assert "stopped" in (tmp_path / "up.log").read_text()


def test_killing_up_with_sigkill_takes_its_children_down(tmp_path: Path, unique: str) -> None:
    # Arrange
    env = _env(f"t_{unique}", f"tp-e2e-kill-{unique}")
    with (tmp_path / "up.log").open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "up", "--port", str(free_port()), "--rate", "1"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait_for_stack(tmp_path, up)
    children = _descendants(up.pid)
    assert children
    # Act: the parent crashes
    up.kill()
    up.wait()
    # Assert: the kernel took every child down with it
    deadline = time.monotonic() + 10
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(children) == set()


def _pids_of(root: int, command: str) -> set[int]:
    """Live descendants of ``root`` running ``tradepipe <command>``."""
    found = set()
    for pid in _alive(_descendants(root)):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streams.cli" in argv and command.encode() in argv:
            found.add(pid)
    return found


def _wait_pid(root: int, command: str, old: set[int], timeout: float = 60) -> tuple[int, float]:
    """A new ``command`` process below ``root`` (not in ``old``), and when it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = _pids_of(root, command) - old
        if new:
            return new.pop(), time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"no new {command} process in {timeout}s")


async def test_up_restarts_a_failing_process_with_growing_delays_and_keeps_serving(
    tmp_path: Path, unique: str, pg_schema: str
) -> None:
    # Arrange
    env = _env(pg_schema, f"tp-e2e-sup-{unique}")
    with (tmp_path / "up.log").open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "up", "--port", str(free_port()), "--rate", "0"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_stack(tmp_path, up)
        worker, _ = _wait_pid(up.pid, "worker", set())
        others = {
            name: {_wait_pid(up.pid, name, set())[0]} for name in ("sink", "paper", "simulate")
        }
        # Act: the worker dies as soon as it is back, four times in a row
        gaps = []
        for _ in range(4):
            os.kill(worker, signal.SIGKILL)
            killed = time.monotonic()
            worker, seen = _wait_pid(up.pid, "worker", {worker})
            gaps.append(seen - killed)
        # then it is left alone: the stack serves an intent end to end
        sent = _tradepipe("send", "-a", "SUP1", "-t", "2885", "-q", "1", cwd=tmp_path, env=env)
        assert sent.returncode == 0, sent.stderr
        intent_id = json.loads(sent.stdout)["intent_id"]
        found = await _statuses(pg_schema, [intent_id], want=1, timeout=120)
        still = {name: _pids_of(up.pid, name) for name in others}
        up_alive = up.poll() is None
    finally:
        up.send_signal(signal.SIGINT)
        try:
            code = up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
    out = (tmp_path / "up.log").read_text()
    # Assert: restarted after 1, 2, 4, 8 s (plus jitter and polling), one line each
    assert up_alive, out[-3000:]
    for gap, delay in zip(gaps, (1, 2, 4, 8), strict=True):
        assert delay <= gap < delay + 5, (gaps, out[-3000:])
    restarts = [line for line in out.splitlines() if line.startswith("worker was killed by")]
    assert len(restarts) == 4, out[-3000:]
    for n, (line, delay) in enumerate(zip(restarts, (1, 2, 4, 8), strict=True), start=1):
        assert f"(failure {n} in a row); restarting in {delay} s;" in line, line
        assert "log .tradepipe/logs/worker.log" in line or "logs/worker.log" in line, line
    # the others were never touched, and the stack kept serving
    assert still == others, (others, still)
    assert "VALIDATED:" in found.get(intent_id, set()), (found, out[-3000:])
    assert code == 0, out[-3000:]
