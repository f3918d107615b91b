"""Fixtures for the sink's tests: a broker of their own (sink tests read the fixed topic names,
so they must not share the session broker with other tests) and settings that point at it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streams.embedded import EmbeddedBroker
from streams.errors import BrokerUnavailable, ConfigError
from streams.settings import Settings, SinkSettings
from streams.topics import ensure_topics

# The sink's tests import their helpers as ``tests.sink.*``: make the repository importable
# (pytest's rootdir-less prepend mode only puts ``tests/`` on the path).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_missing(what: str, exc: BaseException) -> None:
    """Fail under CI, skip elsewhere (as the shared conftest does)."""
    message = f"{what} is not reachable: {exc!r}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def sink_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A fresh embedded broker for one test."""
    broker = EmbeddedBroker(log_file=tmp_path / "tansu.log")
    try:
        broker.start()
    except (BrokerUnavailable, ConfigError) as exc:
        service_missing("embedded broker", exc)
    yield broker
    broker.stop()


@pytest.fixture
async def sink_settings(
    sink_broker: EmbeddedBroker, make_settings: Callable[..., Settings], pg_schema: str,
    unique: str,
) -> Settings:
    """Settings for the test's broker and schema (topics created), small batches, own group."""
    settings = make_settings(
        sink_broker.bootstrap_servers,
        sink=SinkSettings(group_id=f"sink-{unique}", batch_max_records=2000, batch_max_wait_ms=100),
    )
    await ensure_topics(settings.kafka)
    return settings
