"""API keys and their secrets in Postgres: issue, rotate, revoke, list, load.

The tables come from migration 0007 (``connectors/migrations/sql``), like every other table.

Secrets are stored encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under the key(s) in
``IngressSettings.secrets_key``: a comma-separated list, the first encrypts, all decrypt
(``MultiFernet``), so the master key itself can be rotated. A secret is shown once, when
it is issued, and never logged.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connectors.ingress.errors import KeyStoreUnavailable
from schemas.records import utcnow
from streams.errors import ConfigError, InvalidInput
from streams.settings import IngressSettings

__all__ = [
    "SCOPES",
    "ApiKey",
    "ApiKeyStore",
    "IssuedSecret",
    "KeyInfo",
    "SecretBox",
]

SCOPES = frozenset({"submit", "read", "admin"})

# Errors that mean "Postgres is not there" rather than "this statement is wrong".
_PG_DOWN = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, TimeoutError)


class SecretBox:
    """Encrypts and decrypts API secrets with the master key(s) from settings."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError("TRADEPIPE_INGRESS__SECRETS_KEY is not set (a Fernet key)")
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])
        except ValueError as exc:
            raise ConfigError("TRADEPIPE_INGRESS__SECRETS_KEY is not a valid Fernet key") from exc

    @classmethod
    def from_settings(cls, ingress: IngressSettings) -> SecretBox:
        """Build from ``secrets_key`` (comma-separated Fernet keys, newest first)."""
        raw = ingress.secrets_key.get_secret_value() if ingress.secrets_key else ""
        return cls([k for k in raw.split(",") if k.strip()])

    def encrypt(self, secret: str) -> bytes:
        """Ciphertext of a secret under the newest master key."""
        return self._fernet.encrypt(secret.encode())

    def decrypt(self, token: bytes) -> bytes:
        """The secret's bytes; ``ConfigError`` when no configured master key opens it."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise ConfigError(
                "an API secret does not decrypt with the configured master key"
            ) from exc


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """A secret just issued: the only moment its plain text exists outside the client."""

    key_id: str
    version: int
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What the authenticator needs to know about a key (active secrets decrypted)."""

    key_id: str
    scopes: frozenset[str]
    accounts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    rate_per_s: float | None
    burst: int | None
    secrets: tuple[bytes, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as ``tradepipe keys list`` shows it (no secret material)."""

    key_id: str
    name: str
    scopes: list[str]
    accounts: list[str]
    cidrs: list[str]
    rate_per_s: float | None
    burst: int | None
    created_at: datetime
    revoked_at: datetime | None
    active_secrets: list[int]


def _networks(cidrs: list[str]) -> list[str]:
    try:
        return [str(ipaddress.ip_network(c.strip(), strict=False)) for c in cidrs if c.strip()]
    except ValueError as exc:
        raise InvalidInput(f"not a CIDR: {exc}") from exc


def _new_secret() -> str:
    return "tpsk_" + secrets.token_urlsafe(32)


class ApiKeyStore:
    """Postgres-backed API keys in ``<db_schema>.ingress_api_keys`` / ``ingress_api_secrets``."""

    def __init__(self, pool: asyncpg.Pool, schema: str, box: SecretBox) -> None:
        self.pool = pool
        self.schema = schema
        self.box = box
        self._keys = f'"{schema}".ingress_api_keys'
        self._secrets = f'"{schema}".ingress_api_secrets'

    async def _run(self, fn: Any, *args: Any) -> Any:
        try:
            async with self.pool.acquire() as conn:
                return await fn(conn, *args)
        except _PG_DOWN as exc:
            name = exc.__class__.__name__
            raise KeyStoreUnavailable(f"Postgres is not reachable: {name}") from exc

    async def create(
        self,
        name: str,
        *,
        scopes: list[str],
        cidrs: Sequence[str] = (),
        accounts: Sequence[str] = (),
        rate_per_s: float | None = None,
        burst: int | None = None,
    ) -> IssuedSecret:
        """Issue a new key with its first secret."""
        bad = set(scopes) - SCOPES
        if bad or not scopes:
            raise InvalidInput(f"scopes must be among {sorted(SCOPES)}, got {sorted(scopes)}")
        nets = _networks(list(cidrs))
        key_id = "tpk_" + secrets.token_hex(8)
        secret = _new_secret()

        async def run(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                await conn.execute(
                    f"INSERT INTO {self._keys} (key_id, name, scopes, accounts, cidrs, rate_per_s,"
                    " burst) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    key_id,
                    name,
                    sorted(set(scopes)),
                    list(accounts),
                    nets,
                    rate_per_s,
                    burst,
                )
                await conn.execute(
                    f"INSERT INTO {self._secrets} (key_id, version, ciphertext) VALUES ($1, 1, $2)",
                    key_id,
                    self.box.encrypt(secret),
                )

        await self._run(run)
        return IssuedSecret(key_id, 1, secret)

    async def rotate(self, key_id: str, *, grace_s: float = 86_400) -> IssuedSecret:
        """Add a secret; the older active ones expire after ``grace_s`` (0: at once)."""
        secret = _new_secret()
        expires = utcnow() + timedelta(seconds=grace_s)

        async def run(conn: asyncpg.Connection) -> int:
            async with conn.transaction():
                row = await conn.fetchrow(
                    f"SELECT revoked_at FROM {self._keys} WHERE key_id = $1 FOR UPDATE", key_id
                )
                if row is None or row["revoked_at"] is not None:
                    raise InvalidInput(f"no active key {key_id}")
                version: int = await conn.fetchval(
                    f"SELECT coalesce(max(version), 0) + 1 FROM {self._secrets} WHERE key_id = $1",
                    key_id,
                )
                await conn.execute(
                    f"UPDATE {self._secrets} SET expires_at = least(coalesce(expires_at, $2), $2)"
                    " WHERE key_id = $1 AND revoked_at IS NULL",
                    key_id,
                    expires,
                )
                await conn.execute(
                    f"INSERT INTO {self._secrets} (key_id, version, ciphertext)"
                    " VALUES ($1, $2, $3)",
                    key_id,
                    version,
                    self.box.encrypt(secret),
                )
                return version

        version = await self._run(run)
        return IssuedSecret(key_id, version, secret)

    async def revoke(self, key_id: str, *, version: int | None = None) -> None:
        """Revoke a whole key, or one of its secrets."""

        async def run(conn: asyncpg.Connection) -> str:
            if version is None:
                return str(
                    await conn.execute(
                        f"UPDATE {self._keys} SET revoked_at = now() WHERE key_id = $1"
                        " AND revoked_at IS NULL",
                        key_id,
                    )
                )
            return str(
                await conn.execute(
                    f"UPDATE {self._secrets} SET revoked_at = now()"
                    " WHERE key_id = $1 AND version = $2 AND revoked_at IS NULL",
                    key_id,
                    version,
                )
            )

        status = await self._run(run)
        if status.endswith(" 0"):
            what = key_id if version is None else f"{key_id} secret {version}"
            raise InvalidInput(f"no active {what}")

    async def list(self) -> list[KeyInfo]:
        """Every key, newest first, with the versions of its active secrets."""

        async def run(conn: asyncpg.Connection) -> list[Any]:
            return list(
                await conn.fetch(
                    f"SELECT k.*, coalesce(array_agg(s.version ORDER BY s.version) FILTER (WHERE"
                    " s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now())),"
                    f" '{{}}') AS active FROM {self._keys} k LEFT JOIN {self._secrets} s USING"
                    " (key_id) GROUP BY k.key_id ORDER BY k.created_at DESC, k.key_id"
                )
            )

        rows = await self._run(run)
        return [
            KeyInfo(
                key_id=r["key_id"],
                name=r["name"],
                scopes=list(r["scopes"]),
                accounts=list(r["accounts"]),
                cidrs=list(r["cidrs"]),
                rate_per_s=r["rate_per_s"],
                burst=r["burst"],
                created_at=r["created_at"],
                revoked_at=r["revoked_at"],
                active_secrets=list(r["active"]),
            )
            for r in rows
        ]

    async def load(self, key_id: str) -> ApiKey | None:
        """The key with its active secrets decrypted; ``None`` if unknown, revoked or empty."""

        async def run(conn: asyncpg.Connection) -> list[Any]:
            return list(
                await conn.fetch(
                    f"SELECT k.scopes, k.accounts, k.cidrs, k.rate_per_s, k.burst, s.ciphertext"
                    f" FROM {self._keys} k JOIN {self._secrets} s USING (key_id)"
                    " WHERE k.key_id = $1 AND k.revoked_at IS NULL AND s.revoked_at IS NULL"
                    " AND (s.expires_at IS NULL OR s.expires_at > now())",
                    key_id,
                )
            )

        rows = await self._run(run)
        if not rows:
            return None
        first = rows[0]
        return ApiKey(
            key_id=key_id,
            scopes=frozenset(first["scopes"]),
            accounts=frozenset(first["accounts"]),
            networks=tuple(ipaddress.ip_network(c) for c in first["cidrs"]),
            rate_per_s=first["rate_per_s"],
            burst=first["burst"],
            secrets=tuple(self.box.decrypt(r["ciphertext"]) for r in rows),
        )
