"""Redis-side admission in one atomic script: nonce, rate limits (GCRA), idempotency.

One round trip per request does all of it, so a replayed nonce, a limit hit or an
idempotency conflict can never leave a partial effect (Redis runs a script atomically):

1. ``SET nonce NX EX`` — a nonce seen before is a replay.
2. ``Idempotency-Key`` — if a record exists, it is returned (replay it, or refuse with 409);
   nothing else is consumed.
3. GCRA for every limit (per key, per account): all are checked first and written only if
   every one passes, so a refused request costs no budget. The retry delay comes back in µs.
4. The idempotency record is reserved as *pending*; the handler completes or releases it.

Redis errors become ``StoreUnavailable``: the caller fails closed (503).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from streams.errors import StoreUnavailable

__all__ = ["Admission", "Limit", "RedisGuard"]

_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return {1}
end
local idem = KEYS[2]
if idem ~= '' then
  local cur = redis.call('GET', idem)
  if cur then return {3, cur} end
end
local n = tonumber(ARGV[4])
local tats = {}
local worst, worst_i = 0, 0
for i = 1, n do
  local b = 4 + (i - 1) * 3
  local interval = tonumber(ARGV[b + 1])
  local tolerance = tonumber(ARGV[b + 2])
  local cost = tonumber(ARGV[b + 3])
  local tat = tonumber(redis.call('GET', KEYS[2 + i]) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local wait = new_tat - tolerance - now
  if wait > worst then worst, worst_i = wait, i end
  tats[i] = new_tat
end
if worst_i > 0 then return {2, worst_i, string.format('%.0f', worst)} end
for i = 1, n do
  local ttl = math.ceil((tats[i] - now) / 1000) + 1000
  redis.call('SET', KEYS[2 + i], string.format('%.0f', tats[i]), 'PX', ttl)
end
if idem ~= '' then redis.call('SET', idem, ARGV[2] .. '|p', 'EX', ARGV[3]) end
return {0}
"""


@dataclass(frozen=True, slots=True)
class Limit:
    """A GCRA limit: ``rate_per_s`` sustained, ``burst`` at once; a request costs ``cost``."""

    scope: str
    key: str
    rate_per_s: float
    burst: int
    cost: int = 1


@dataclass(frozen=True, slots=True)
class Admission:
    """What the script decided."""

    outcome: Literal["ok", "replay", "limited", "idempotent"]
    scope: str = ""
    retry_after_s: float = 0.0
    stored: str | None = None  # the idempotency record, when outcome is "idempotent"


class RedisGuard:
    """Nonces, rate limits and idempotency records under one key prefix."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(_ADMIT)

    def key(self, *parts: str) -> str:
        """A namespaced Redis key."""
        return self.prefix + ":".join(parts)

    async def admit(
        self,
        *,
        nonce_key: str,
        nonce_ttl_s: int,
        limits: list[Limit],
        idem_key: str = "",
        idem_digest: str = "",
        idem_ttl_s: int = 86_400,
    ) -> Admission:
        """Run the admission script; ``StoreUnavailable`` if Redis does not answer."""
        keys = [nonce_key, idem_key, *(lim.key for lim in limits)]
        args: list[Any] = [nonce_ttl_s, idem_digest, idem_ttl_s, len(limits)]
        for lim in limits:
            interval = 1_000_000.0 / lim.rate_per_s
            args += [f"{interval:.3f}", f"{interval * lim.burst:.3f}", lim.cost]
        try:
            result = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis is not reachable: {exc.__class__.__name__}") from exc
        code = int(result[0])
        if code == 0:
            return Admission("ok")
        if code == 1:
            return Admission("replay")
        if code == 2:
            lim = limits[int(result[1]) - 1]
            return Admission("limited", scope=lim.scope, retry_after_s=int(result[2]) / 1e6)
        stored = result[1]
        return Admission(
            "idempotent", stored=stored.decode() if isinstance(stored, bytes) else stored
        )

    async def complete(
        self, idem_key: str, digest: str, status: int, body: bytes, ttl_s: int
    ) -> None:
        """Store the final response of an idempotent request."""
        value = f"{digest}|d|{status}|".encode() + body
        try:
            await self.client.set(idem_key, value, ex=ttl_s)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis is not reachable: {exc.__class__.__name__}") from exc

    async def release(self, idem_key: str) -> None:
        """Drop a pending idempotency record (the request failed; a retry may run again)."""
        try:
            await self.client.delete(idem_key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis is not reachable: {exc.__class__.__name__}") from exc

    async def ping(self) -> bool:
        """True when Redis answers."""
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False
