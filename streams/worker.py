"""Run the Faust worker: create topics, build the app, register agents, serve metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from streams.app import Pipeline, build_pipeline
from streams.logs import configure_logging
from streams.observe import serve_metrics
from streams.settings import Settings
from streams.topics import ensure_topics

__all__ = ["run_worker"]

log = structlog.get_logger(__name__)


def run_worker(settings: Settings, register: Callable[[Pipeline], object]) -> None:
    """Run a worker until SIGINT/SIGTERM; ``register`` declares the agents on the app."""
    import faust

    configure_logging(
        level=settings.log.level, json_output=settings.log_json, file=settings.log.file
    )
    created = asyncio.run(ensure_topics(settings.kafka))
    if created:
        log.info("topics_created", count=len(created))
    pipeline = build_pipeline(settings)
    register(pipeline)
    port = serve_metrics(settings.metrics_port, settings.metrics_host)
    log.info(
        "worker_starting",
        app_id=settings.app_id,
        broker=settings.kafka.bootstrap_servers,
        metrics_port=port,
    )
    worker = faust.Worker(
        pipeline.app,
        loglevel=settings.log.level,
        override_logging=False,
        quiet=True,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
