"""The audit trail's hash chain: canonical row content, appends in the sink's transaction, verify.

Each row stores ``prev_hash`` and ``hash = sha256(prev_hash || canonical(row))``, where the
canonical content is sorted-key JSON of the event's fields and its ``chain_seq`` (so a row
moved to another place breaks the chain too). Appends lock the single ``audit_chain_head``
row, which serialises them across sink instances; verification also compares the last row
with the head, so deleting the newest rows is caught as well.
"""

# ruff: noqa: S608  # SQL names only the schema, validated by PostgresSettings, and fixed tables
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]  # asyncpg ships no type information
import orjson

from connectors.migrations import PG_UNAVAILABLE, connect, prepare_schema
from streams.errors import SinkUnavailable
from streams.settings import Settings

__all__ = [
    "GENESIS",
    "AuditVerdict",
    "append_audit",
    "audit_verify",
    "canonical",
    "link_hash",
    "verify_chain",
]

GENESIS = bytes(32)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(ts: datetime) -> int:
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def canonical(chain_seq: int, event: dict[str, Any]) -> bytes:
    """The bytes a link hashes: sorted-key JSON, timestamps as integer microseconds."""
    details = event.get("details") or {}
    if isinstance(details, str):
        details = orjson.loads(details)
    body = {
        "chain_seq": chain_seq,
        "event_id": event["event_id"],
        "actor": event["actor"],
        "action": event["action"],
        "outcome": event["outcome"],
        "account_id": event.get("account_id"),
        "subject": event.get("subject"),
        "details": details,
        "created_at_us": _micros(event["created_at"]),
        "trace_id": event["trace_id"],
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def link_hash(prev_hash: bytes, chain_seq: int, event: dict[str, Any]) -> bytes:
    """sha256(prev_hash || canonical content)."""
    return hashlib.sha256(prev_hash + canonical(chain_seq, event)).digest()


_COLUMNS = (
    "chain_seq",
    "event_id",
    "actor",
    "action",
    "outcome",
    "account_id",
    "subject",
    "details",
    "created_at",
    "trace_id",
    "kafka_partition",
    "kafka_offset",
    "prev_hash",
    "hash",
)


async def append_audit(
    conn: asyncpg.Connection, schema: str, events: Sequence[tuple[dict[str, Any], int, int]]
) -> int:
    """Chain ``(event, partition, offset)`` in the given order; inside the caller's transaction.

    Events already in the table (a replay across a new cluster) are skipped, so the natural
    key fence holds without breaking the chain. Returns the number of rows appended.
    """
    if not events:
        return 0
    head = await conn.fetchrow(
        f'SELECT chain_seq, hash FROM "{schema}".audit_chain_head WHERE id = 1 FOR UPDATE'
    )
    assert head is not None  # inserted by migration 0005
    seen = {
        r["event_id"]
        for r in await conn.fetch(
            f'SELECT event_id FROM "{schema}".audit_events WHERE event_id = ANY($1::text[])',
            [e["event_id"] for e, _, _ in events],
        )
    }
    seq, prev = int(head["chain_seq"]), bytes(head["hash"])
    rows: list[tuple[Any, ...]] = []
    for event, partition, offset in events:
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        seq += 1
        digest = link_hash(prev, seq, event)
        rows.append(
            (
                seq,
                event["event_id"],
                event["actor"],
                event["action"],
                event["outcome"],
                event.get("account_id"),
                event.get("subject"),
                orjson.dumps(event.get("details") or {}, option=orjson.OPT_SORT_KEYS).decode(),
                event["created_at"],
                event["trace_id"],
                partition,
                offset,
                prev,
                digest,
            )
        )
        prev = digest
    if rows:
        await conn.copy_records_to_table(
            "audit_events", records=rows, columns=_COLUMNS, schema_name=schema
        )
        await conn.execute(
            f'UPDATE "{schema}".audit_chain_head SET chain_seq = $1, hash = $2, updated_at = now()'
            " WHERE id = 1",
            seq,
            prev,
        )
    return len(rows)


@dataclass(frozen=True, slots=True)
class AuditVerdict:
    """The outcome of walking the chain: ``ok``, or the first broken link and why."""

    ok: bool
    rows: int
    broken_seq: int | None = None
    reason: str | None = None


async def verify_chain(conn: asyncpg.Connection, schema: str, *, chunk: int = 5000) -> AuditVerdict:
    """Walk ``audit_events`` in chain order and name the first broken link."""
    prev, expected_seq, rows = GENESIS, 1, 0
    query = (
        f'SELECT * FROM "{schema}".audit_events WHERE chain_seq >= $1 ORDER BY chain_seq LIMIT $2'
    )
    while True:
        batch = await conn.fetch(query, expected_seq, chunk)
        for row in batch:
            seq = int(row["chain_seq"])
            if seq != expected_seq:
                return AuditVerdict(
                    False, rows, expected_seq, f"row {expected_seq} is missing (next row is {seq})"
                )
            if bytes(row["prev_hash"]) != prev:
                return AuditVerdict(False, rows, seq, "prev_hash does not match the previous row")
            if link_hash(prev, seq, dict(row)) != bytes(row["hash"]):
                return AuditVerdict(False, rows, seq, "content does not match its hash")
            prev, expected_seq, rows = bytes(row["hash"]), seq + 1, rows + 1
        if len(batch) < chunk:
            break
    head = await conn.fetchrow(
        f'SELECT chain_seq, hash FROM "{schema}".audit_chain_head WHERE id = 1'
    )
    if head is None:
        return AuditVerdict(False, rows, None, "the chain head row is missing")
    if int(head["chain_seq"]) != rows or bytes(head["hash"]) != prev:
        return AuditVerdict(
            False,
            rows,
            rows + 1 if int(head["chain_seq"]) > rows else rows,
            f"chain ends at row {rows} but the head says {head['chain_seq']}",
        )
    return AuditVerdict(True, rows)


async def audit_verify(settings: Settings) -> AuditVerdict:
    """Walk the audit hash chain of ``settings``' schema (``tradepipe audit verify``)."""
    await prepare_schema(settings.postgres, settings.profile)
    conn = await connect(settings.postgres, application_name="tradepipe-audit-verify")
    try:
        return await verify_chain(conn, settings.postgres.db_schema)
    except PG_UNAVAILABLE as exc:
        raise SinkUnavailable(f"PostgreSQL went away: {type(exc).__name__}") from exc
    finally:
        await conn.close()
