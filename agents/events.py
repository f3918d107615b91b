"""Audit events of the agents. Order events have exactly one builder:
``agents.lifecycle.OrderState.to_event`` (ids from ``connectors.ids.event_id``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from schemas.records import AuditEvent

__all__ = ["audit_event"]

_AUDIT_NS = uuid.UUID("2f5d1b8e-93a4-4c1e-8d0b-6a7c2e9f4b31")


def audit_event(
    *,
    action: str,
    outcome: str,
    actor: str,
    subject: str,
    account_id: str | None,
    details: Mapping[str, str],
    created_at: datetime,
    trace_id: str = "",
    id_parts: tuple[str, ...] = (),
) -> AuditEvent:
    """An ``AuditEvent`` whose id depends only on (action, subject, ``id_parts``), so a
    replayed decision produces the same id and the sink dedupes it."""
    key = "|".join((action, subject, *id_parts))
    return AuditEvent(
        event_id=str(uuid.uuid5(_AUDIT_NS, key)),
        actor=actor,
        action=action,
        outcome=outcome,
        account_id=account_id,
        subject=subject,
        details=dict(details),
        created_at=created_at,
        trace_id=trace_id,
    )
