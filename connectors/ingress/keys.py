"""Managing the ingress's API keys from outside the server: what ``tradepipe keys`` calls.

Each function opens the key store (its own pool, the tables in place), does one thing and
closes it. ``audit_key_change`` publishes the audit event of a change; it is best effort, so
a key change stands even when Kafka is away (the caller is told, and says so).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from connectors.ingress.publisher import KafkaPublisher
from connectors.ingress.runtime import open_key_store
from connectors.ingress.store import ApiKeyStore, IssuedSecret, KeyInfo
from schemas.records import AuditEvent
from streams.settings import Settings

__all__ = [
    "audit_key_change",
    "check_key_store",
    "create_key",
    "list_keys",
    "revoke_key",
    "rotate_key",
]

T = TypeVar("T")


async def _with_store(settings: Settings, work: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    store = await open_key_store(settings)
    try:
        return await work(store)
    finally:
        await store.pool.close()


async def _nothing(_: ApiKeyStore) -> None:
    return None


async def check_key_store(settings: Settings) -> None:
    """Fail with one error (master key, Postgres, tables) before a server starts."""
    await _with_store(settings, _nothing)


async def create_key(
    settings: Settings,
    name: str,
    *,
    scopes: Sequence[str],
    cidrs: Sequence[str] = (),
    accounts: Sequence[str] = (),
    rate_per_s: float | None = None,
    burst: int | None = None,
) -> IssuedSecret:
    """Issue a key; the returned secret is the only copy in clear."""
    return await _with_store(
        settings,
        lambda s: s.create(
            name,
            scopes=list(scopes),
            cidrs=cidrs,
            accounts=accounts,
            rate_per_s=rate_per_s,
            burst=burst,
        ),
    )


async def rotate_key(settings: Settings, key_id: str, *, grace_s: float) -> IssuedSecret:
    """Add a secret to ``key_id``; the older ones expire after ``grace_s``."""
    return await _with_store(settings, lambda s: s.rotate(key_id, grace_s=grace_s))


async def revoke_key(settings: Settings, key_id: str, *, version: int | None = None) -> None:
    """Revoke ``key_id``, or only its secret ``version``."""
    await _with_store(settings, lambda s: s.revoke(key_id, version=version))


async def list_keys(settings: Settings) -> list[KeyInfo]:
    """Every key, newest first (never their secrets)."""
    return await _with_store(settings, lambda s: s.list())


async def audit_key_change(settings: Settings, action: str, key_id: str, **details: str) -> bool:
    """Publish the audit event of a key change; False if Kafka did not answer in time."""
    publisher = KafkaPublisher(settings)
    await publisher.start()
    try:
        ready = await publisher.wait_ready(settings.ingress.produce_timeout_s)
        event = AuditEvent(
            event_id=uuid.uuid4().hex,
            actor="cli",
            action=action,
            outcome="ok",
            subject=key_id,
            details=details,
            trace_id=uuid.uuid4().hex,
        )
        await publisher.publish_audit(event, wait=True)
    finally:
        await publisher.stop()
    return ready
