"""Supervise the processes of ``tradepipe up``: start in order, restart crashes with backoff,
stop in reverse.

A child that exits is restarted after an exponential, capped delay (1 s, 2 s, 4 s … 30 s, with a
little jitter so that children that died together do not restart in lockstep); one that then
stays up for ``stable_after_s`` has its backoff reset. The supervisor never gives up on a
child and never stops the others because of it: a worker poisoned by one record, or a sink
whose database is away, keeps being retried while the rest of the stack serves. Every exit is
reported once (``Exit``), with the log file and the last lines of its error, so the operator
sees which process fails and why without opening the log.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from tenacity import RetryCallState, wait_exponential, wait_random
from tenacity.wait import wait_base

from streams.procs import spawn, stop_process

__all__ = ["Child", "Exit", "Supervisor", "error_tail", "restart_backoff"]

log = structlog.get_logger(__name__)

# How much of a log the error tail reads: the end of a traceback, not the whole day.
_TAIL_BYTES = 16 * 1024
_TAIL_LINES = 5
_LINE_CHARS = 240
_SIGNALS = frozenset(int(sig) for sig in signal.Signals)
_ERROR_MARKS = ("Traceback", '"level": "error"', '"level": "critical"', "tradepipe:", "Error")


def restart_backoff(
    initial_s: float = 1.0, max_s: float = 30.0, jitter_s: float = 0.25
) -> wait_base:
    """tenacity's exponential wait (``initial_s`` doubling up to ``max_s``) plus a small jitter."""
    return wait_exponential(multiplier=initial_s, min=initial_s, max=max_s) + wait_random(
        0, jitter_s
    )


def _delay(wait: wait_base, failures: int) -> float:
    """The wait before restart number ``failures`` (1 for the first failure in a row)."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = max(failures, 1)
    return float(wait(state))


def error_tail(log_file: Path, lines: int = _TAIL_LINES) -> list[str]:
    """The last lines of ``log_file`` from its last error line on (else its last lines).

    Reads only the end of the file. A long tail keeps the error line, then its last lines."""
    try:
        with log_file.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(size - _TAIL_BYTES, 0))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    tail = [line.rstrip() for line in text.splitlines() if line.strip()]
    if size > _TAIL_BYTES:
        tail = tail[1:]  # the first line read is most likely cut
    marked = [i for i, line in enumerate(tail) if any(m in line for m in _ERROR_MARKS)]
    picked = tail[marked[-1] :] if marked else tail[-lines:]
    if len(picked) > lines:
        picked = [picked[0], "…", *picked[-(lines - 2) :]]
    return [p if len(p) <= _LINE_CHARS else p[: _LINE_CHARS - 1] + "…" for p in picked]


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: Sequence[str]
    log_file: Path
    env: Mapping[str, str]
    metrics_port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    # exits in a row, each after less than ``stable_after_s`` of uptime
    failures: int = 0
    restarts: int = 0
    restart_at: float | None = None


@dataclass(frozen=True)
class Exit:
    """A child exited; it is restarted ``delay_s`` later."""

    name: str
    exit_code: int
    uptime_s: float
    failures: int
    delay_s: float
    log_file: Path
    tail: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        """One line for the exit and restart, then the last lines of its error, indented."""
        how = (
            f"was killed by {signal.Signals(-self.exit_code).name}"
            if self.exit_code < 0 and -self.exit_code in _SIGNALS
            else f"exited with code {self.exit_code}"
        )
        head = (
            f"{self.name} {how} after {self.uptime_s:.0f} s"
            f" (failure {self.failures} in a row); restarting in {self.delay_s:.0f} s;"
            f" log {self.log_file}"
        )
        return [head, *(f"  | {line}" for line in self.tail)]


class Supervisor:
    """Starts children, restarts one that dies (with backoff, forever), stops all."""

    def __init__(
        self,
        *,
        wait: wait_base | None = None,
        stable_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children: list[Child] = []
        self.wait = wait if wait is not None else restart_backoff()
        self.stable_after_s = stable_after_s
        self._clock = clock

    def start(self, child: Child) -> Child:
        """Start ``child`` and supervise it from now on."""
        self._spawn(child)
        self.children.append(child)
        log.info("process_started", name=child.name, pid=child.proc.pid if child.proc else None)
        return child

    def _spawn(self, child: Child) -> None:
        child.proc = spawn(child.argv, log_file=child.log_file, env=child.env)
        child.started_at = self._clock()
        child.restart_at = None

    def check(self) -> list[Exit]:
        """Notice exits and restart children whose backoff has passed.

        Returns the exits noticed now (each once); the caller reports them."""
        exits: list[Exit] = []
        now = self._clock()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._spawn(child)
                continue
            if child.proc is None:
                continue
            code = child.proc.poll()
            if code is None:
                if child.failures and now - child.started_at >= self.stable_after_s:
                    child.failures = 0  # up long enough: the next crash starts at 1 s again
                continue
            uptime = now - child.started_at
            child.failures = 1 if uptime >= self.stable_after_s else child.failures + 1
            delay = _delay(self.wait, child.failures)
            child.restart_at = now + delay
            child.proc = None
            event = Exit(
                child.name,
                code,
                uptime,
                child.failures,
                delay,
                child.log_file,
                error_tail(child.log_file),
            )
            exits.append(event)
        return exits

    def stop_all(self, timeout: float = 15.0) -> int:
        """Stop every child, newest first; returns how many were running."""
        running = 0
        for child in reversed(self.children):
            child.restart_at = None
            if child.proc is not None and child.proc.poll() is None:
                running += 1
                code = stop_process(child.proc, timeout=timeout)
                log.info("process_stopped", name=child.name, exit_code=code)
            child.proc = None
        return running
