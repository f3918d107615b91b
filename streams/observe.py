"""The ``/metrics`` endpoint every tradepipe process serves."""

from __future__ import annotations

import structlog
from prometheus_client import start_http_server

from streams.metrics import REGISTRY

__all__ = ["serve_metrics"]

log = structlog.get_logger(__name__)


def serve_metrics(port: int, host: str = "127.0.0.1") -> int:
    """Serve ``/metrics`` in a daemon thread; port 0 picks a free one. Returns the port."""
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    bound = int(server.server_port)
    log.info("metrics_serving", url=f"http://{host}:{bound}/metrics")
    return bound
