"""Running the ingress: uvicorn (uvloop + httptools when installed) around ``create_app``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette

from connectors.ingress.app import create_app
from connectors.ingress.protocol import HeadLimits, guarded_protocol
from connectors.ingress.runtime import IngressRuntime
from streams.errors import ConfigError
from streams.settings import Settings

__all__ = ["IngressServer", "serve"]


def _config(
    settings: Settings, app: Starlette, *, host: str | None, port: int | None
) -> uvicorn.Config:
    ingress = settings.ingress
    limits = HeadLimits(
        max_bytes=ingress.max_header_bytes,
        max_headers=ingress.max_headers,
        timeout_s=ingress.header_timeout_s,
        max_concurrency=ingress.max_concurrency,
    )
    return uvicorn.Config(
        app,
        host=host or ingress.host,
        port=ingress.port if port is None else port,
        loop="auto",
        http=guarded_protocol(limits),  # httptools, with head limits and shaped errors
        ws="none",
        limit_concurrency=None,  # enforced by the protocol, which answers in the error body
        lifespan="on",
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is ours to judge (trusted_proxies)
        log_config=None,  # structlog owns logging
        server_header=False,
        date_header=False,
        timeout_keep_alive=30,
        backlog=2048,
    )


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve until interrupted (the ``tradepipe ingress serve`` command)."""
    server = uvicorn.Server(_config(settings, create_app(settings), host=host, port=port))
    server.run()
    if not server.started:
        raise ConfigError("the ingress did not start (see the log above)")


class IngressServer:
    """An in-process ingress on a running event loop (tests, embedding): ``async with``."""

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runtime = IngressRuntime(settings)
        self.app = create_app(settings, self.runtime)
        self._server = uvicorn.Server(_config(settings, self.app, host=host, port=port))
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Base URL of the listening server."""
        sock = self._server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    async def start(self) -> None:
        """Start the runtime and the HTTP server."""
        await self.runtime.start()
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving and close the runtime."""
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.runtime.stop()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[IngressServer]:
        """``async with server.running():`` start and stop around a block."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()
