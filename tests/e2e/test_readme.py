"""README.md's "Try it", run as a new user would: ``tradepipe up`` in one terminal, the README's
shell block in another, and the README's sample output compared with what ``up`` printed."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from streams.embedded import free_port
from tests.conftest import PG_DSN, REDIS_URL
from tests.unit.docs.commands import ROOT, DocCommand, commands_in_text

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
]

README = ROOT / "README.md"
SUMMARY_END = "Ctrl-C stops everything."


def _tradepipe() -> list[str]:
    script = Path(sys.executable).with_name("tradepipe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "streams.cli"]


def _block_after(marker: str, language: str) -> list[str]:
    """The lines of the first ``language`` code block after the line containing ``marker``."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    opening = lines.index(f"```{language}", start)
    return lines[opening + 1 : lines.index("```", opening + 1)]


def summary_rows(text: str) -> list[str]:
    """Row names of a rich table as ``up`` prints it; a wrapped row's continuation has none."""
    rows = []
    for line in text.splitlines():
        if line.startswith("│"):
            name = line.split("│")[1].strip()
            if name:
                rows.append(name)
    return rows


def _wait_for_summary(log: Path, up: subprocess.Popen[bytes], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if SUMMARY_END in text:
            return text
        assert up.poll() is None, f"tradepipe up exited {up.returncode}:\n{text[-3000:]}"
        time.sleep(0.3)
    raise AssertionError(f"tradepipe up printed no summary in {timeout} s")


def _follow(
    argv: list[str], cwd: Path, env: dict[str, str], want: int, timeout: float
) -> tuple[int, list[str], str]:
    """Run a following command until it printed ``want`` lines, then Ctrl-C it."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or []])
    reader.start()
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        try:
            got.append(lines.get(timeout=0.5))
        except queue.Empty:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(10)
    return code, got, proc.stderr.read() if proc.stderr else ""


def _events_of(intent_id: str, cwd: Path, env: dict[str, str], timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline and not found:
        result = subprocess.run(
            [*_tradepipe(), "tail", "orders.events.v1", "--from-beginning"],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        found = [
            json.loads(line)["value"] for line in result.stdout.splitlines() if intent_id in line
        ]
        found = [event for event in found if event.get("status") == "REJECTED"]
        if not found:
            time.sleep(1)
    return found


def test_summary_rows_are_read_from_wrapped_and_unwrapped_tables() -> None:
    # Arrange
    wrapped = "│ worker     │ pid 1  metrics http://x/metrics  log │\n│            │ w.log │"
    # Act / Assert
    assert summary_rows(wrapped) == ["worker"]
    assert summary_rows("\n".join(_block_after("`make up` prints", "")))[:2] == [
        "broker",
        "postgres",
    ]


def test_readme_try_it_runs_against_tradepipe_up(
    tmp_path: Path, unique: str, pg_schema: str, redis_client: Any
) -> None:
    # Arrange: a folder of the user's (the README's intents file in it) and `up` running there.
    # --port: other stacks may run on this machine; the README's `make up` takes 9092 if free.
    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "docs" / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    env.pop("COLUMNS", None)
    env.update(
        TRADEPIPE_POSTGRES__DSN=PG_DSN,
        TRADEPIPE_POSTGRES__DB_SCHEMA=pg_schema,
        TRADEPIPE_REDIS__URL=REDIS_URL,
        TRADEPIPE_REDIS__KEY_PREFIX=f"tp-test:{unique}:",
        TRADEPIPE_APP_ID=f"tp-readme-{unique}",
        TRADEPIPE_SINK__GROUP_ID=f"tp-readme-{unique}-sink",
        TRADEPIPE_PAPER__GROUP_ID=f"tp-readme-{unique}-paper",
        TRADEPIPE_INGRESS__PORT="0",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(
            [*_tradepipe(), "up", "--port", str(free_port()), "--rate", "1"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        printed = _wait_for_summary(log, up)
        sample = _block_after("`make up` prints", "")
        block = _block_after("From another terminal", "bash")
        shell = commands_in_text("\n".join(["```bash", *block, "```"]), "README.md")
        # Act: the README's commands, in its order, from "another terminal" in the same folder
        results: list[tuple[DocCommand, int, list[str], str]] = []
        for doc in shell:
            argv = [*_tradepipe(), *doc.args]
            if "-f" in doc.args or "--follow" in doc.args:
                results.append((doc, *_follow(argv, tmp_path, env, want=1, timeout=90)))
                continue
            done = subprocess.run(
                argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False
            )
            results.append((doc, done.returncode, done.stdout.splitlines(), done.stderr))
        zero = next(
            json.loads(out[0])["intent_id"]
            for doc, code, out, _ in results
            if code == 0 and doc.args[-2:] == ("--price", "2900.03")
        )
        rejected = _events_of(zero, tmp_path, env, timeout=90)
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
    # Assert: README's sample output has the rows, title and last line `up` printed
    assert summary_rows("\n".join(sample)) == summary_rows(printed), (
        "README.md's sample output of `make up` no longer matches what `tradepipe up` prints;"
        f" printed:\n{printed[printed.index(sample[0]) :]}"
    )
    assert sample[0] in printed
    assert sample[-1] == SUMMARY_END
    # Assert: every README command succeeded; send printed the intent id, tail JSON lines
    assert len(shell) >= 5
    for doc, code, out, err in results:
        assert code in ((0, 130) if "-f" in doc.args else (0,)), (doc.text, code, err[-500:])
        if doc.args[0] == "send":
            assert all("intent_id" in json.loads(line) for line in out), (doc.text, out)
        if doc.args[0] == "tail":
            assert all(isinstance(json.loads(line), dict) for line in out), (doc.text, out[:3])
    follow = next(out for doc, _, out, _ in results if "-f" in doc.args)
    assert follow, "tail -f printed nothing while the demo feed was running"
    # Assert: the README's comment on the off-tick intent (a quantity of 0 is refused at the door)
    assert [event["reason_code"] for event in rejected] == ["PRICE_NOT_ON_TICK"]
