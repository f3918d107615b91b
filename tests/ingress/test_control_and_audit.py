"""Kill switch, audit events, and reading an order's state from the sink's tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from connectors.ingress.client import AsyncIngressClient, IngressError
from connectors.ingress.server import IngressServer
from connectors.ingress.store import IssuedSecret
from connectors.migrations import apply_migrations
from schemas.codec import AvroCodec
from schemas.records import AuditEvent, CommandKind, ControlCommand, TradingState
from schemas.registry import FileRegistry
from streams.settings import Settings
from streams.topics import AUDIT, CONTROL
from tests.ingress.factories import intent_body
from tests.ingress.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]

CODEC = AvroCodec(FileRegistry())


def _audits(records: list[Any], **match: str) -> list[AuditEvent]:
    events = [CODEC.decode(r.value, AuditEvent) for r in records]
    return [e for e in events if all(getattr(e, k) == v for k, v in match.items())]


async def test_kill_switch_publishes_a_control_command_and_an_audit_event(
    client: AsyncIngressClient, key: IssuedSecret, settings: Settings, unique: str
) -> None:
    account = f"acct-{unique}"

    result = await client.kill_switch(account, "HALTED", reason="test halt")

    commands = await read_topic(
        settings, CONTROL, lambda rs: any(r.key == account.encode() for r in rs)
    )
    mine = [CODEC.decode(r.value, ControlCommand) for r in commands if r.key == account.encode()]
    assert len(mine) == 1
    assert mine[0].command is CommandKind.SET_TRADING_STATE
    assert mine[0].trading_state is TradingState.HALTED
    assert mine[0].actor == key.key_id
    assert mine[0].command_id == result["command_id"]
    audits = await read_topic(
        settings, AUDIT, lambda rs: bool(_audits(rs, subject=result["command_id"]))
    )
    assert _audits(audits, subject=result["command_id"])[0].action == "kill_switch"


async def test_kill_switch_needs_the_admin_scope(
    ingress: IngressServer, issue: Callable[..., Any], unique: str
) -> None:
    submitter = await issue(("submit",))

    async with AsyncIngressClient(ingress.url, submitter.key_id, submitter.secret) as c:
        with pytest.raises(IngressError) as refused:
            await c.kill_switch("*", reason="nope")

    assert refused.value.status == 403


async def test_auth_failure_and_rate_limit_hit_are_audited(
    ingress: IngressServer, issue: Callable[..., Any], settings: Settings, unique: str
) -> None:
    key = await issue(("submit",), rate_per_s=0.01, burst=1)
    async with AsyncIngressClient(ingress.url, key.key_id, "wrong-secret") as bad:
        with pytest.raises(IngressError):
            await bad.submit(intent_body(unique))
    async with AsyncIngressClient(ingress.url, key.key_id, key.secret) as good:
        await good.submit(intent_body(unique))
        with pytest.raises(IngressError) as limited:
            await good.submit(intent_body(unique))

    assert limited.value.status == 429
    records = await read_topic(
        settings,
        AUDIT,
        lambda rs: (
            {"auth_failed", "rate_limited"} <= {e.action for e in _audits(rs, subject=key.key_id)}
        ),
    )
    actions = {e.action: e for e in _audits(records, subject=key.key_id)}
    assert actions["auth_failed"].details["reason"] == "bad_signature"
    assert actions["rate_limited"].details["scope"] == "key"


async def _sink_tables(settings: Settings, intent_id: str, account: str) -> None:
    """The sink's own tables (its migrations), holding one partly filled order."""
    await apply_migrations(settings.postgres)
    schema = settings.postgres.db_schema
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        await conn.execute(
            f'INSERT INTO "{schema}".orders (intent_id, account_id, client_order_id,'
            " instrument_token, exchange, side, status, seq, quantity, filled_quantity,"
            " leaves_quantity, price, avg_fill_price, broker_order_id, last_event_id, updated_at)"
            " VALUES ($1, $2, 'co-1', '2885', 'NSE', 'BUY', 'PARTIALLY_FILLED', 3, 10, 4, 6,"
            " 2450.05, 2450.0, 'B-1', 'ev-3', $3)",
            intent_id,
            account,
            now,
        )
        for seq, status, filled in (
            (1, "RECEIVED", 0),
            (2, "VALIDATED", 0),
            (3, "PARTIALLY_FILLED", 4),
        ):
            await conn.execute(
                f'INSERT INTO "{schema}".order_events (event_id, intent_id, account_id,'
                " client_order_id, instrument_token, exchange, side, status, seq, quantity,"
                " filled_quantity, leaves_quantity, stage, created_at, trace_id, kafka_partition,"
                " kafka_offset) VALUES ($1, $2, $3, 'co-1', '2885', 'NSE', 'BUY', $4, $5, 10,"
                " $6::bigint, 10 - $6::bigint, 'test', $7, 't', 0, $5)",
                f"ev-{seq}",
                intent_id,
                account,
                status,
                seq,
                filled,
                now,
            )
    finally:
        await conn.close()


async def test_get_order_returns_state_and_history_from_the_sink_tables(
    client: AsyncIngressClient, settings: Settings, unique: str
) -> None:
    await _sink_tables(settings, f"it-{unique}", f"acct-{unique}")

    order = await client.get_order(f"it-{unique}")

    assert order["status"] == "PARTIALLY_FILLED"
    assert order["leaves_quantity"] == 6
    assert order["price"] == "2450.0500"
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "VALIDATED", "PARTIALLY_FILLED"]


async def test_get_unknown_order_is_a_404_even_before_the_sink_made_its_tables(
    client: AsyncIngressClient, unique: str
) -> None:
    with pytest.raises(IngressError) as missing:
        await client.get_order(f"nothing-{unique}")

    assert missing.value.status == 404
    assert missing.value.code == "not_found"


async def test_openapi_document_is_3_1_and_served(ingress: IngressServer) -> None:
    async with httpx.AsyncClient(base_url=ingress.url) as http:
        spec = (await http.get("/openapi.json")).json()

    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["schemas"]["OrderIntentIn"]["additionalProperties"] is False
    assert set(spec["paths"]) >= {"/v1/orders", "/v1/orders/{intent_id}", "/v1/control/kill-switch"}
