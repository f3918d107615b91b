"""Request authentication: headers, timestamp window, key lookup, signature, address, scope.

Replay protection (the nonce) is checked in Redis by ``guard.RedisGuard`` in the same
atomic step as the rate limits, after the signature is known to be good, so an attacker
cannot burn other clients' nonces or budget with unsigned requests.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from connectors.ingress import signing
from connectors.ingress.errors import ApiError
from connectors.ingress.netacl import IPAddress, IPNetwork, allowed, client_address
from connectors.ingress.store import ApiKey, ApiKeyStore
from streams import metrics

__all__ = ["AuthContext", "AuthError", "Authenticator", "KeyCache"]

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class AuthError(ApiError):
    """A refused authentication (401) or authorisation (403); always audited."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        reason: str,
        key_id: str | None,
        address: IPAddress | None,
    ) -> None:
        super().__init__(status, code, message)
        self.reason = reason
        self.key_id = key_id
        self.address = address


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who is calling: the key, the nonce it used, and from where."""

    key: ApiKey
    nonce: str
    address: IPAddress | None

    def require(self, scope: str) -> None:
        """403 unless the key holds ``scope``."""
        if scope not in self.key.scopes:
            metrics.INGRESS_AUTH_FAILURES.labels(reason="insufficient_scope").inc()
            raise AuthError(
                403,
                "insufficient_scope",
                f"this key lacks the {scope!r} scope",
                reason="insufficient_scope",
                key_id=self.key.key_id,
                address=self.address,
            )

    def may_use_account(self, account_id: str) -> bool:
        """True when the key is not restricted to accounts, or lists this one."""
        return not self.key.accounts or account_id in self.key.accounts


class KeyCache:
    """Keys loaded from the store, kept ``ttl_s`` seconds (negative answers too)."""

    def __init__(
        self, store: ApiKeyStore, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ):
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[str, tuple[float, ApiKey | None]] = {}
        self._loading: dict[str, asyncio.Future[ApiKey | None]] = {}

    async def get(self, key_id: str) -> ApiKey | None:
        """The key, from cache or the store (one load per key at a time)."""
        now = self.clock()
        entry = self._entries.get(key_id)
        if entry is not None and now - entry[0] < self.ttl_s:
            return entry[1]
        pending = self._loading.get(key_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ApiKey | None] = asyncio.get_running_loop().create_future()
        self._loading[key_id] = future
        try:
            key = await self.store.load(key_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            self._loading.pop(key_id, None)
        future.set_result(key)
        if len(self._entries) > 10_000:  # unknown ids must not grow memory without bound
            self._entries.clear()
        self._entries[key_id] = (now, key)
        return key

    def invalidate(self, key_id: str | None = None) -> None:
        """Forget one key, or all."""
        if key_id is None:
            self._entries.clear()
        else:
            self._entries.pop(key_id, None)


class Authenticator:
    """Checks the signature headers of a request against the key store."""

    def __init__(
        self,
        keys: KeyCache,
        *,
        window_s: int,
        trusted_proxies: tuple[IPNetwork, ...],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.window_s = window_s
        self.trusted_proxies = trusted_proxies
        self.clock = clock

    def address(self, peer: str | None, forwarded_for: Sequence[str]) -> IPAddress | None:
        """The client address (every X-Forwarded-For line, honoured only from trusted proxies)."""
        return client_address(peer, forwarded_for, self.trusted_proxies)

    async def authenticate(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        peer: str | None,
        forwarded_for: Sequence[str] = (),
    ) -> AuthContext:
        """The caller's context; ``AuthError`` (401/403) otherwise."""
        address = self.address(peer, forwarded_for)
        key_id = headers.get(signing.HEADER_KEY_ID)
        timestamp = headers.get(signing.HEADER_TIMESTAMP)
        nonce = headers.get(signing.HEADER_NONCE)
        signature = headers.get(signing.HEADER_SIGNATURE)

        def fail(reason: str, code: str, message: str, status: int = 401) -> AuthError:
            metrics.INGRESS_AUTH_FAILURES.labels(reason=reason).inc()
            known = key_id if key_id and _KEY_ID.match(key_id) else None
            return AuthError(status, code, message, reason=reason, key_id=known, address=address)

        if not (key_id and timestamp and nonce and signature):
            raise fail(
                "missing_headers",
                "missing_signature",
                "X-TP-Key-Id, X-TP-Timestamp, X-TP-Nonce and X-TP-Signature are required",
            )
        if not _KEY_ID.match(key_id) or not signing.NONCE_PATTERN.match(nonce):
            raise fail("malformed_headers", "invalid_signature", "malformed key id or nonce")
        if not _TIMESTAMP.match(timestamp):
            raise fail("malformed_headers", "invalid_signature", "timestamp is not Unix seconds")
        if abs(self.clock() - int(timestamp)) > self.window_s:
            raise fail(
                "timestamp_skew",
                "stale_timestamp",
                f"timestamp is more than {self.window_s} s from the server's clock",
            )
        key = await self.keys.get(key_id)
        try:
            message = signing.string_to_sign(
                method, path, query, timestamp, nonce, signing.body_digest(body)
            ).encode()
        except signing.MalformedTarget as exc:
            raise ApiError(
                400,
                "malformed_request",
                str(exc),
                details=[{"loc": ["target"], "type": "malformed_escape", "msg": str(exc)}],
            ) from None
        # Unknown keys and bad signatures look the same to the caller.
        if key is None:
            raise fail("unknown_key", "invalid_signature", "signature does not verify")
        if not signing.signature_matches(key.secrets, message, signature):
            raise fail("bad_signature", "invalid_signature", "signature does not verify")
        if not allowed(address, key.networks):
            raise fail(
                "address_not_allowed",
                "address_not_allowed",
                "this key may not be used from this address",
                status=403,
            )
        return AuthContext(key=key, nonce=nonce, address=address)
