"""Fixtures of the paper-exchange tests: a broker of the test's own with every topic created,
and a factory for ``tradepipe paper`` processes with a unique Redis key prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from schemas.records import Record
from streams.embedded import EmbeddedBroker
from streams.settings import KafkaSettings
from streams.topics import ensure_topics
from tests.harness import TradepipeProcess, env_for
from tests.paper.helpers import TopicReader


@pytest.fixture
def paper_broker(fresh_broker: EmbeddedBroker) -> EmbeddedBroker:
    """A fresh broker (topic names are fixed by contract) with every topic created."""
    asyncio.run(ensure_topics(KafkaSettings(bootstrap_servers=fresh_broker.bootstrap_servers)))
    return fresh_broker


@pytest.fixture
def paper_env(paper_broker: EmbeddedBroker, unique: str) -> dict[str, str]:
    """Environment for child processes: this broker, this test's Redis key prefix."""
    return env_for(
        paper_broker.bootstrap_servers,
        TRADEPIPE_REDIS__KEY_PREFIX=f"tp-test:{unique}:",
        TRADEPIPE_PAPER__SNAPSHOT_INTERVAL_S="0.5",
    )


@pytest.fixture
def paper_process(paper_env: dict[str, str], tmp_path: Path) -> Callable[[str], TradepipeProcess]:
    """``paper_process(name)`` → a ``tradepipe paper`` child (not started) logging to tmp."""

    def make(name: str = "paper") -> TradepipeProcess:
        return TradepipeProcess(["paper"], paper_env, tmp_path / f"{name}.log")

    return make


@pytest.fixture
async def reader(paper_broker: EmbeddedBroker) -> AsyncIterator[Callable[..., TopicReader]]:
    """``reader(topic, RecordType | None)`` → a ``TopicReader`` closed after the test."""
    made: list[TopicReader] = []

    def make(topic: str, record_type: type[Record] | None) -> TopicReader:
        made.append(TopicReader(paper_broker.bootstrap_servers, topic, record_type))
        return made[-1]

    yield make
    for r in made:
        await r.close()
