"""The ingress's connections, built from settings and started/stopped together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import structlog

from connectors.ingress.auth import Authenticator, KeyCache
from connectors.ingress.errors import KeyStoreUnavailable
from connectors.ingress.guard import RedisGuard
from connectors.ingress.netacl import parse_networks
from connectors.ingress.publisher import KafkaPublisher
from connectors.ingress.reader import OrderReader, PostgresOrderReader
from connectors.ingress.store import ApiKeyStore, SecretBox
from connectors.migrations import prepare_schema
from streams.embedded import kafka_answers
from streams.service import AsyncService
from streams.settings import Settings

__all__ = ["IngressRuntime", "open_key_store"]

log = structlog.get_logger(__name__)

_PG_DOWN = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, TimeoutError)


async def _pool(settings: Settings) -> asyncpg.Pool:
    pg = settings.postgres
    try:
        pool: asyncpg.Pool = await asyncio.wait_for(
            asyncpg.create_pool(
                pg.dsn.get_secret_value(),
                min_size=pg.min_pool,
                max_size=pg.max_pool,
                command_timeout=5,
            ),
            10,
        )
    except _PG_DOWN as exc:
        raise KeyStoreUnavailable(f"Postgres is not reachable: {exc.__class__.__name__}") from exc
    return pool


async def open_key_store(settings: Settings) -> ApiKeyStore:
    """A key store with its own pool, on a migrated schema (for the CLI)."""
    box = SecretBox.from_settings(settings.ingress)
    # The pool first: a Postgres that is down is reported as the key store's outage.
    pool = await _pool(settings)
    try:
        await prepare_schema(settings.postgres, settings.profile)
    except BaseException:
        await pool.close()
        raise
    return ApiKeyStore(pool, settings.postgres.db_schema, box)


class IngressRuntime(AsyncService):
    """Redis, Postgres and Kafka for one ingress process."""

    def __init__(self, settings: Settings, *, reader: OrderReader | None = None) -> None:
        self.settings = settings
        ingress = settings.ingress
        self.box = SecretBox.from_settings(ingress)
        self.redis = aioredis.from_url(
            settings.redis.url.get_secret_value(),
            socket_timeout=ingress.redis_timeout_s,
            socket_connect_timeout=ingress.redis_timeout_s,
            max_connections=256,
        )
        self.guard = RedisGuard(self.redis, settings.redis.key_prefix + "ingress:")
        self.publisher = KafkaPublisher(settings)
        self._reader = reader
        self.pool: asyncpg.Pool | None = None
        self.store: ApiKeyStore | None = None
        self.keys: KeyCache | None = None
        self.auth: Authenticator | None = None
        self.reader: OrderReader | None = reader
        self.trusted_proxies = parse_networks(ingress.trusted_proxies)
        self._tasks: set[asyncio.Task[None]] = set()

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` without waiting for it (kept referenced until done)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """Connect to Postgres (its schema migrated), begin connecting to Kafka."""
        # The pool first: a Postgres that is down is reported as the key store's outage.
        self.pool = await _pool(self.settings)
        await prepare_schema(self.settings.postgres, self.settings.profile)
        self.store = ApiKeyStore(self.pool, self.settings.postgres.db_schema, self.box)
        self.keys = KeyCache(self.store, self.settings.ingress.key_cache_ttl_s)
        self.auth = Authenticator(
            self.keys,
            window_s=self.settings.ingress.timestamp_window_s,
            trusted_proxies=self.trusted_proxies,
        )
        if self.reader is None:
            self.reader = PostgresOrderReader(self.pool, self.settings.postgres.db_schema)
        await self.publisher.start()
        log.info("ingress_started", schema=self.settings.postgres.db_schema)

    async def stop(self) -> None:
        """Close everything (pending audit events are flushed first)."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.settings.ingress.produce_timeout_s)
        await self.publisher.stop()
        await self.redis.aclose()
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def readiness(self) -> dict[str, Any]:
        """One entry per dependency: ok, and the time the check took."""
        checks: dict[str, Any] = {}

        async def timed(name: str, probe: Any) -> None:
            began = time.perf_counter()
            try:
                ok = bool(await asyncio.wait_for(probe(), 2.0))
            except (*_PG_DOWN, asyncpg.PostgresError):
                ok = False
            checks[name] = {"ok": ok, "ms": round((time.perf_counter() - began) * 1000, 2)}

        async def postgres() -> bool:
            if self.pool is None:
                return False
            return bool(await self.pool.fetchval("SELECT 1") == 1)

        async def kafka() -> bool:
            if not self.publisher.ready:
                return False
            hosts = self.settings.kafka.bootstrap_servers.split(",")
            for hostport in hosts:
                host, _, port = hostport.strip().rpartition(":")
                if await asyncio.to_thread(kafka_answers, host.strip("[]"), int(port)):
                    return True
            return False

        await asyncio.gather(
            timed("redis", self.guard.ping), timed("postgres", postgres), timed("kafka", kafka)
        )
        return checks
