"""What the paper exchange keeps per partition, and where it keeps it across restarts.

``PartitionState`` is the books of one partition ``p`` (of ``paper.orders.v1`` and
``md.ticks.v1`` alike: they are co-partitioned), the next offset to read on each topic, and
the outbox: the encoded records produced by the last batch.

``RedisSnapshotStore`` writes a snapshot per partition into one Redis hash field, *before*
the outbox is produced, and marks it acknowledged after the broker acked every record. A
restart restores the books, seeks to the stored offsets and re-sends an outbox that was
never marked acknowledged (same ids, so downstream dedupes). Redis rather than a compacted
topic because the embedded broker reads end offsets low (docs/embedded-broker.md #3) and
reading a state topic "to its end" would lose its tail; see ``docs/paper-exchange.md``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
from redis.exceptions import RedisError

from connectors.paper_exchange import PaperBook
from streams.errors import StoreUnavailable

__all__ = ["Output", "PartitionState", "RedisSnapshotStore", "snapshot_scope"]

# (topic, key, value, headers) of one record to produce
Output = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]


def snapshot_scope(cluster_id: str, group_id: str) -> str:
    """The scope of a paper exchange's snapshots: the Kafka cluster and the consumer group."""
    return f"{cluster_id}:{group_id}"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


@dataclass
class PartitionState:
    """Books and positions of one partition; ``offsets`` maps topic -> next offset."""

    partition: int
    books: dict[str, PaperBook] = field(default_factory=dict)  # "NSE:2885" -> book
    by_token: dict[bytes, list[PaperBook]] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)
    outbox: list[Output] = field(default_factory=list)
    version: int = 0
    snapshotted: dict[str, int] = field(default_factory=dict)

    def add_book(self, book: PaperBook) -> None:
        """Index a new book by its key and by its token's bytes (the topic key)."""
        self.books[f"{book.exchange}:{book.instrument_token}"] = book
        self.by_token.setdefault(book.instrument_token.encode(), []).append(book)

    def resting(self) -> int:
        """Orders working in this partition."""
        return sum(len(b.orders) for b in self.books.values())

    @property
    def progressed(self) -> bool:
        """True when offsets moved since the last snapshot."""
        return self.offsets != self.snapshotted

    def to_dict(self) -> dict[str, Any]:
        """JSON-able snapshot (outbox values base64)."""
        return {
            "partition": self.partition,
            "version": self.version,
            "offsets": self.offsets,
            "books": [b.to_dict() for b in self.books.values()],
            "outbox": [
                [t, _b64(k), _b64(v), [[h, _b64(hv)] for h, hv in hs]]
                for t, k, v, hs in self.outbox
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionState:
        """Inverse of ``to_dict``."""
        state = cls(partition=int(data["partition"]), version=int(data["version"]))
        for raw in data["books"]:
            state.add_book(PaperBook.from_dict(raw))
        state.offsets = {str(t): int(o) for t, o in data["offsets"].items()}
        state.snapshotted = dict(state.offsets)
        for t, k, v, hs in data["outbox"]:
            value = _unb64(v)
            assert value is not None  # outbox values are never null
            state.outbox.append((t, _unb64(k), value, [(h, _unb64(hv) or b"") for h, hv in hs]))
        return state


class RedisSnapshotStore:
    """Snapshots in one Redis hash per partition: ``snapshot`` (JSON) and ``acked`` (version)."""

    def __init__(self, url: str, key_prefix: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._prefix = key_prefix

    def key(self, scope: str, partition: int) -> str:
        """``<prefix>paper:<scope>:<partition>``; the scope names the cluster and the group."""
        return f"{self._prefix}paper:{scope}:{partition}"

    def save(self, scope: str, states: list[PartitionState]) -> None:
        """Write the snapshots of ``states`` in one round trip (before their outbox is sent)."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for st in states:
                    st.version += 1
                    key = self.key(scope, st.partition)
                    pipe.hset(key, "snapshot", orjson.dumps(st.to_dict()))
                    if not st.outbox:  # nothing to send: acknowledged already
                        pipe.hset(key, "acked", st.version)
                    st.snapshotted = dict(st.offsets)
                pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc

    def mark_acked(self, scope: str, states: list[PartitionState]) -> None:
        """Record that the outbox of each state's current version reached the broker."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for st in states:
                    pipe.hset(self.key(scope, st.partition), "acked", st.version)
                pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc

    def load(self, scope: str, partition: int) -> tuple[PartitionState | None, bool]:
        """The stored state of a partition and whether its outbox was acknowledged."""
        try:
            raw: dict[bytes, bytes] = self._client.hgetall(self.key(scope, partition))  # type: ignore[assignment]  # sync client returns a dict
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc
        if b"snapshot" not in raw:
            return None, True
        state = PartitionState.from_dict(orjson.loads(raw[b"snapshot"]))
        acked = int(raw.get(b"acked", b"0")) >= state.version
        return state, acked

    def migrate(self, old_scope: str, new_scope: str) -> list[int]:
        """Copy every snapshot of ``old_scope`` to ``new_scope`` with the input offsets cleared.

        For ``tradepipe restore`` after the broker was lost: the books (resting orders, the
        memory of finished order ids) carry over to the new cluster, the offsets of the old
        one do not (the new cluster's input topics start empty, so the exchange reads them
        from the beginning). The ``acked`` mark is copied as it is, so an outbox that may never
        have reached the old broker is sent to the new one. A partition that already has a
        snapshot in ``new_scope`` is left alone. Returns the partitions copied.
        """
        pattern = _glob_escape(self.key(old_scope, 0)[:-1]) + "*"
        copied: list[int] = []
        try:
            for raw_key in self._client.scan_iter(match=pattern, count=500):
                key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
                suffix = key.rsplit(":", 1)[-1]
                if not suffix.isdigit():
                    continue
                partition = int(suffix)
                target = self.key(new_scope, partition)
                if self._client.exists(target):
                    continue
                raw: dict[bytes, bytes] = self._client.hgetall(key)  # type: ignore[assignment]  # sync client returns a dict
                if b"snapshot" not in raw:
                    continue
                snapshot = orjson.loads(raw[b"snapshot"])
                snapshot["offsets"] = {}
                fields: dict[str, bytes] = {"snapshot": orjson.dumps(snapshot)}
                if b"acked" in raw:
                    fields["acked"] = raw[b"acked"]
                self._client.hset(target, mapping=fields)  # type: ignore[arg-type]  # bytes values are accepted
                copied.append(partition)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc
        return sorted(copied)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
