"""Fixtures for the sink's tests: a broker of their own (sink tests read the fixed topic names,
so they must not share the session broker with other tests) and settings that point at it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from streams.embedded import EmbeddedBroker
from streams.settings import Settings, SinkSettings
from streams.topics import ensure_topics


@pytest.fixture
def sink_broker(fresh_broker: EmbeddedBroker) -> EmbeddedBroker:
    """A fresh embedded broker for one test (the shared ``fresh_broker``)."""
    return fresh_broker


@pytest.fixture
async def sink_settings(
    sink_broker: EmbeddedBroker,
    make_settings: Callable[..., Settings],
    pg_schema: str,
    unique: str,
) -> Settings:
    """Settings for the test's broker and schema (topics created), small batches, own group."""
    settings = make_settings(
        sink_broker.bootstrap_servers,
        sink=SinkSettings(group_id=f"sink-{unique}", batch_max_records=2000, batch_max_wait_ms=100),
    )
    await ensure_topics(settings.kafka)
    return settings
