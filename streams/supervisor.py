"""Supervise the processes of ``tradepipe up``: start in order, restart crashes, stop in reverse."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from streams.procs import spawn, stop_process

__all__ = ["Child", "Supervisor"]

log = structlog.get_logger(__name__)


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: Sequence[str]
    log_file: Path
    env: Mapping[str, str]
    metrics_port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)


class Supervisor:
    """Starts children, restarts one that dies (at most 3 times a minute), stops all."""

    max_restarts_per_minute = 3

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, child: Child) -> Child:
        child.proc = spawn(child.argv, log_file=child.log_file, env=child.env)
        self.children.append(child)
        log.info("process_started", name=child.name, pid=child.proc.pid)
        return child

    def check(self) -> list[str]:
        """Restart children that exited; returns the names of those given up on."""
        failed: list[str] = []
        now = time.monotonic()
        for child in self.children:
            if child.proc is None or child.proc.poll() is None:
                continue
            code = child.proc.returncode
            child.restarts = [t for t in child.restarts if now - t < 60]
            if len(child.restarts) >= self.max_restarts_per_minute:
                log.error(
                    "process_failed", name=child.name, exit_code=code, log_file=str(child.log_file)
                )
                failed.append(child.name)
                child.proc = None
                continue
            child.restarts.append(now)
            log.warning(
                "process_restarting", name=child.name, exit_code=code, log_file=str(child.log_file)
            )
            child.proc = spawn(child.argv, log_file=child.log_file, env=child.env)
        return failed

    def stop_all(self, timeout: float = 15.0) -> int:
        """Stop every child, newest first; returns how many were running."""
        running = 0
        for child in reversed(self.children):
            if child.proc is not None and child.proc.poll() is None:
                running += 1
                code = stop_process(child.proc, timeout=timeout)
                log.info("process_stopped", name=child.name, exit_code=code)
            child.proc = None
        return running
