"""Ingress fixtures: settings with a Fernet key, a running ingress, keys, signed clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from connectors.ingress.client import AsyncIngressClient
from connectors.ingress.server import IngressServer
from connectors.ingress.store import IssuedSecret
from streams.settings import IngressSettings, Settings
from streams.topics import ensure_topics
from tests.conftest import service_missing
from tests.ingress.factories import FERNET_KEY


def ingress_settings(base: Settings, **ingress: Any) -> Settings:
    """``base`` with ingress settings for tests (a throwaway Fernet key, no key cache)."""
    fields: dict[str, Any] = {"secrets_key": FERNET_KEY, "key_cache_ttl_s": 0.0, **ingress}
    return base.model_copy(update={"ingress": IngressSettings(**fields)})


@pytest.fixture
async def redis_prefix(kafka_settings: Settings) -> AsyncIterator[str]:
    """Redis is reachable (else skip, or fail under CI); this test's keys go afterwards.

    Deletes by prefix with a large SCAN count: the shared ``redis_client`` fixture walks the
    whole keyspace ten keys at a time, slow when a benchmark left nonces behind.
    """
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    prefix = kafka_settings.redis.key_prefix
    client = aioredis.from_url(kafka_settings.redis.url.get_secret_value())
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        service_missing("Redis", exc)
    yield prefix
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=5000)]
    for i in range(0, len(keys), 1000):
        await client.unlink(*keys[i : i + 1000])
    await client.aclose()


@pytest.fixture
async def settings(kafka_settings: Settings, migrated_schema: str, redis_prefix: str) -> Settings:
    """Settings on the session broker, a migrated schema and a Redis prefix; topics exist."""
    await ensure_topics(kafka_settings.kafka)
    return ingress_settings(kafka_settings)


@pytest.fixture
async def start_ingress() -> AsyncIterator[Callable[..., Any]]:
    """Start extra ingresses with their own settings; all stopped at teardown."""
    servers: list[IngressServer] = []

    async def start(settings: Settings, *, wait_kafka: bool = True) -> IngressServer:
        server = IngressServer(settings)
        await server.start()
        servers.append(server)
        if wait_kafka:
            assert await server.runtime.publisher.wait_ready(15), "Kafka did not connect"
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def ingress(settings: Settings) -> AsyncIterator[IngressServer]:
    """A running ingress on a free loopback port."""
    server = IngressServer(settings)
    await server.start()
    assert await server.runtime.publisher.wait_ready(15), "Kafka did not connect"
    yield server
    await server.stop()


@pytest.fixture
def issue(ingress: IngressServer) -> Callable[..., Any]:
    """Create a key on the running ingress's store."""

    async def create(scopes: tuple[str, ...] = ("submit", "read"), **kw: Any) -> IssuedSecret:
        assert ingress.runtime.store is not None
        return await ingress.runtime.store.create("test", scopes=list(scopes), **kw)

    return create


@pytest.fixture
async def key(issue: Callable[..., Any]) -> IssuedSecret:
    """A submit+read+admin key."""
    issued: IssuedSecret = await issue(("submit", "read", "admin"))
    return issued


@pytest.fixture
async def client(ingress: IngressServer, key: IssuedSecret) -> AsyncIterator[AsyncIngressClient]:
    """A signing client for ``key``."""
    async with AsyncIngressClient(ingress.url, key.key_id, key.secret) as c:
        yield c
