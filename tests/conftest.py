"""Shared fixtures: the embedded broker for the session, per-test names, Postgres and Redis.

Under ``CI=true`` a missing service fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.embedded import EmbeddedBroker
from streams.errors import BrokerUnavailable, ConfigError
from streams.settings import KafkaSettings, PostgresSettings, RedisSettings, Settings

PG_DSN = os.environ.get("TRADEPIPE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TRADEPIPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_missing(what: str, exc: BaseException) -> None:
    """Fail under CI, skip elsewhere: a missing service must never pass silently in CI."""
    message = f"{what} is not reachable: {exc!r}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One embedded Tansu broker for the whole session (memory storage)."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    broker = EmbeddedBroker(log_file=log)
    try:
        broker.start()
    except (BrokerUnavailable, ConfigError) as exc:
        service_missing("embedded broker", exc)
    yield broker
    broker.stop()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic names, groups, schemas and key prefixes."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def make_settings(tmp_path: Path, unique: str) -> Callable[..., Settings]:
    """Build Settings for a test; the broker address is filled in when given."""

    def build(bootstrap: str | None = None, **overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "app_id": f"tp-test-{unique}",
            "data_dir": tmp_path / "data",
            "kafka": KafkaSettings(bootstrap_servers=bootstrap or "127.0.0.1:1"),
            "postgres": PostgresSettings(dsn=PG_DSN, db_schema=f"t_{unique}"),  # type: ignore[arg-type]
            "redis": RedisSettings(url=REDIS_URL, key_prefix=f"tp-test:{unique}:"),  # type: ignore[arg-type]
        }
        base.update(overrides)
        return Settings(**base)

    return build


@pytest.fixture
def kafka_settings(
    kafka_broker: EmbeddedBroker, make_settings: Callable[..., Settings]
) -> Settings:
    """Settings pointing at the session broker, with this test's unique names."""
    return make_settings(kafka_broker.bootstrap_servers)


@pytest.fixture
async def pg_schema(unique: str) -> AsyncIterator[str]:
    """A fresh Postgres schema for this test, dropped afterwards."""
    import asyncpg

    schema = f"t_{unique}"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG_DSN), 10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        service_missing("PostgreSQL", exc)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    yield schema
    # A fresh connection: the test may have restarted Postgres or killed our backends.
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def migrated_schema(pg_schema: str) -> str:
    """``pg_schema`` with every migration applied, by the function ``tradepipe db migrate`` runs."""
    from connectors.migrations import apply_migrations

    await apply_migrations(PostgresSettings(dsn=PG_DSN, db_schema=pg_schema))  # type: ignore[arg-type]
    return pg_schema


@pytest.fixture
async def redis_client(unique: str) -> AsyncIterator[Any]:
    """A Redis client; every key under this test's prefix is deleted afterwards."""
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisConnectionError, OSError) as exc:
        await client.aclose()
        service_missing("Redis", exc)
    yield client
    keys = [k async for k in client.scan_iter(match=f"tp-test:{unique}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own: the pipeline's topic names are fixed by contract."""
    broker = EmbeddedBroker(log_file=tmp_path / "tansu.log")
    try:
        broker.start()
    except (BrokerUnavailable, ConfigError) as exc:
        service_missing("embedded broker", exc)
    yield broker
    broker.stop()
