"""The supervisor of ``tradepipe up``: a failing child is restarted with growing, capped delays,
forever, while its siblings keep running; a child that stayed up long enough starts over at 1 s.

Real child processes (tiny Python programs); the clock is injected, so the delays are checked
exactly and the test does not sleep through them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tenacity import wait_exponential

from streams.supervisor import Child, Supervisor, error_tail, restart_backoff

FAIL = (
    "import sys; print('tradepipe: cannot reach Postgres at 127.0.0.1:1', file=sys.stderr);"
    " sys.exit(1)"
)
SLEEP = "import time; time.sleep(120)"


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _child(tmp_path: Path, name: str, code: str) -> Child:
    return Child(name, [sys.executable, "-c", code], tmp_path / f"{name}.log", {})


def _wait_exit(child: Child) -> None:
    assert child.proc is not None
    child.proc.wait(timeout=30)


def test_failing_child_restarts_with_growing_capped_delays_and_sibling_stays_up(
    tmp_path: Path,
) -> None:
    # Arrange: no jitter, so the delays are exact
    clock = Clock()
    sup = Supervisor(wait=wait_exponential(multiplier=1, min=1, max=30), clock=clock)
    healthy = sup.start(_child(tmp_path, "sink", SLEEP))
    failing = sup.start(_child(tmp_path, "worker", FAIL))
    healthy_pid = healthy.proc.pid if healthy.proc else None
    delays: list[float] = []
    try:
        # Act: eight crashes in a row, each restart due exactly when its delay has passed
        for _ in range(8):
            _wait_exit(failing)
            exits = sup.check()
            assert [e.name for e in exits] == ["worker"]
            delays.append(exits[0].delay_s)
            clock.now += exits[0].delay_s - 0.01
            assert sup.check() == [] and failing.proc is None  # not yet
            clock.now += 0.01
            assert sup.check() == [] and failing.proc is not None  # restarted
        # Assert
        assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
        assert failing.restarts == 8 and failing.failures == 8
        assert healthy.proc is not None and healthy.proc.poll() is None
        assert healthy.proc.pid == healthy_pid
    finally:
        assert sup.stop_all(timeout=5) >= 1


def test_child_up_longer_than_stable_after_starts_over_at_one_second(tmp_path: Path) -> None:
    # Arrange: three quick failures (1, 2, 4 s), then a run that lasts
    clock = Clock()
    sup = Supervisor(
        wait=wait_exponential(multiplier=1, min=1, max=30), stable_after_s=60, clock=clock
    )
    child = sup.start(_child(tmp_path, "paper", FAIL))
    try:
        for _ in range(3):
            _wait_exit(child)
            (exited,) = sup.check()
            clock.now += exited.delay_s
            sup.check()
        assert exited.delay_s == 4
        child.argv = [sys.executable, "-c", "import time; time.sleep(0.5)"]
        _wait_exit(child)  # the failing run that was started last
        (exited,) = sup.check()
        clock.now += exited.delay_s
        sup.check()  # now the short-lived sleeper
        assert exited.delay_s == 8
        # Act: it stays up for 61 s of the clock, then exits
        clock.now += 61
        _wait_exit(child)
        (after_stable,) = sup.check()
        # Assert
        assert after_stable.failures == 1 and after_stable.delay_s == 1
    finally:
        sup.stop_all(timeout=5)


def test_exit_names_process_code_log_and_last_error_lines(tmp_path: Path) -> None:
    # Arrange
    clock = Clock()
    sup = Supervisor(clock=clock)
    child = sup.start(_child(tmp_path, "sink", FAIL))
    _wait_exit(child)
    # Act
    (exited,) = sup.check()
    lines = exited.describe()
    # Assert: one line for the restart, then the error from the log
    head, *tail = lines
    assert head.startswith("sink exited with code 1 after ")
    assert "restarting in 1 s" in head and str(tmp_path / "sink.log") in head
    assert tail == ["  | tradepipe: cannot reach Postgres at 127.0.0.1:1"]
    assert 1.0 <= exited.delay_s <= 1.25  # the default backoff's jitter
    sup.stop_all(timeout=5)


def test_stop_all_cancels_pending_restart(tmp_path: Path) -> None:
    # Arrange: a crashed child waiting for its restart, a running sibling
    clock = Clock()
    sup = Supervisor(clock=clock)
    running = sup.start(_child(tmp_path, "sink", SLEEP))
    crashed = sup.start(_child(tmp_path, "worker", FAIL))
    _wait_exit(crashed)
    sup.check()
    # Act
    stopped = sup.stop_all(timeout=5)
    clock.now += 60
    # Assert
    assert stopped == 1
    assert sup.check() == []
    assert crashed.proc is None and running.proc is None


def test_error_tail_keeps_a_traceback_head_and_its_last_lines(tmp_path: Path) -> None:
    # Arrange
    log = tmp_path / "worker.log"
    frames = [f'  File "agents/x.py", line {n}, in f' for n in range(20)]
    log.write_text(
        "\n".join(
            [
                '{"event": "worker_starting", "level": "info"}',
                "Traceback (most recent call last):",
                *frames,
                "ValueError: bad record",
            ]
        )
        + "\n"
    )
    # Act
    tail = error_tail(log, lines=5)
    # Assert: the last error-looking line is the exception itself
    assert tail == ["ValueError: bad record"]


def test_error_tail_without_an_error_gives_the_last_lines(tmp_path: Path) -> None:
    # Arrange
    log = tmp_path / "paper.log"
    log.write_text("".join(f'{{"event": "tick {n}", "level": "info"}}\n' for n in range(10)))
    # Act / Assert
    assert error_tail(log, lines=3) == [
        f'{{"event": "tick {n}", "level": "info"}}' for n in (7, 8, 9)
    ]
    assert error_tail(tmp_path / "missing.log") == []


@pytest.mark.parametrize(("failures", "low", "high"), [(1, 1, 1.25), (3, 4, 4.25), (9, 30, 30.25)])
def test_default_backoff_doubles_from_one_second_up_to_thirty(
    failures: int, low: float, high: float
) -> None:
    from tenacity import RetryCallState

    # Arrange
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = failures
    # Act
    delay = restart_backoff()(state)
    # Assert
    assert low <= delay <= high


def test_exit_by_signal_names_the_signal(tmp_path: Path) -> None:
    # Arrange
    sup = Supervisor(clock=Clock())
    child = sup.start(
        _child(tmp_path, "worker", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    )
    _wait_exit(child)
    # Act
    (exited,) = sup.check()
    # Assert
    assert exited.describe()[0].startswith("worker was killed by SIGKILL after ")
    sup.stop_all(timeout=5)
