"""Reading an order's state for ``GET /v1/orders/{intent_id}``.

``OrderReader`` is the interface; ``PostgresOrderReader`` reads the sink's ``orders``
(current state) and ``order_events`` (history) tables in the settings' ``db_schema``
(migration ``0002_orders.sql``). Missing tables read as "no such order".
"""

from __future__ import annotations

from typing import Protocol

import asyncpg
import structlog

from connectors.ingress.errors import KeyStoreUnavailable
from connectors.ingress.models import OrderEventOut, OrderStateOut

__all__ = ["OrderReader", "PostgresOrderReader"]

log = structlog.get_logger(__name__)

_PG_DOWN = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, TimeoutError)


class OrderReader(Protocol):
    """Looks an order up by intent id."""

    async def get(self, intent_id: str) -> OrderStateOut | None:
        """The order's state and history, or ``None`` when unknown."""
        ...


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class PostgresOrderReader:
    """``OrderReader`` over the sink's ``orders`` and ``order_events`` tables."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self._current = f'"{schema}".orders'
        self._events = f'"{schema}".order_events'

    async def get(self, intent_id: str) -> OrderStateOut | None:
        """Current row plus events ordered by ``seq``."""
        try:
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT intent_id, account_id, client_order_id, instrument_token, side,"
                    " status, quantity, filled_quantity, leaves_quantity, price, avg_fill_price,"
                    f" broker_order_id, updated_at FROM {self._current} WHERE intent_id = $1",
                    intent_id,
                )
                if row is None:
                    return None
                events = await conn.fetch(
                    "SELECT seq, status, filled_quantity, reason_code, reason, created_at"
                    f" FROM {self._events} WHERE intent_id = $1 ORDER BY seq",
                    intent_id,
                )
        except asyncpg.UndefinedTableError:
            log.warning("ingress_order_tables_missing", table=self._current)
            return None
        except _PG_DOWN as exc:
            name = exc.__class__.__name__
            raise KeyStoreUnavailable(f"Postgres is not reachable: {name}") from exc
        return OrderStateOut(
            intent_id=row["intent_id"],
            account_id=row["account_id"],
            client_order_id=row["client_order_id"],
            instrument_token=row["instrument_token"],
            side=row["side"],
            status=row["status"],
            quantity=row["quantity"],
            filled_quantity=row["filled_quantity"],
            leaves_quantity=row["leaves_quantity"],
            price=_text(row["price"]),
            avg_fill_price=_text(row["avg_fill_price"]),
            broker_order_id=row["broker_order_id"],
            updated_at=row["updated_at"],
            history=[
                OrderEventOut(
                    seq=e["seq"],
                    status=e["status"],
                    filled_quantity=e["filled_quantity"],
                    reason_code=e["reason_code"],
                    reason=e["reason"],
                    created_at=e["created_at"],
                )
                for e in events
            ],
        )
