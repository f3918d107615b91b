"""The broker interface: what a venue must offer the router, and the paper venue.

How to add a venue (NautilusTrader's adapter template idea): write a ``<System>Venue`` class
in ``connectors/`` with these members, register it in ``agents.route.build_venues`` under a
name, and map accounts to that name in settings (``agents.venues``).

| member | required | contract |
|---|---|---|
| ``name`` | yes | venue name in settings, ``OrderEvent.venue``, metrics |
| ``dedupes_orders`` | yes | True when the venue ignores an order id it has seen |
| ``broker_order_id(intent)`` | yes | deterministic order id / tag of an intent |
| ``start()``, ``stop()`` | yes | open / close connections (``async with`` too) |
| ``place_order(intent, id)`` | yes | send once; the venue's id; ``VenueError`` on failure |
| ``find_order(id)`` | yes | look up by tag before re-placing; None |
| ``cancel_order(intent, id)`` | optional | request a cancel; CANCELLED comes as an event |
| ``modify_order(...)`` | optional | not used by the pipeline yet |

``place_order`` never retries blindly: a retriable ``VenueError`` becomes ROUTE_FAILED
(``VENUE_UNAVAILABLE``) and a re-placement after a crash first calls ``find_order``
unless ``dedupes_orders`` is True.

Venue reports (acknowledgements, fills, cancels) do not come back through this interface:
the venue process (or the broker's order-update stream) publishes ``OrderEvent`` records on
``orders.events.v1`` and ``Fill`` records on ``exec.fills.v1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from connectors.ids import paper_order_id
from connectors.paper.markers import CANCEL_STAGE
from schemas.records import OrderIntent, Record
from streams.service import AsyncService

__all__ = ["PAPER_ORDERS_TOPIC", "PaperVenue", "Publish", "Venue"]

PAPER_ORDERS_TOPIC = "paper.orders.v1"

# (topic, key, record): how a connector hands a record to the caller's producer
Publish = Callable[[str, bytes, Record], None]


@runtime_checkable
class Venue(Protocol):
    """A place orders go: the paper exchange now, Angel One SmartAPI later."""

    name: str
    dedupes_orders: bool

    def broker_order_id(self, intent: OrderIntent) -> str:
        """The deterministic venue order id (or order tag) of ``intent``."""
        ...

    async def start(self) -> None:
        """Connect."""
        ...

    async def stop(self) -> None:
        """Disconnect."""
        ...

    async def place_order(self, intent: OrderIntent, broker_order_id: str) -> str:
        """Send ``intent``; the venue's order id. Raises ``VenueError`` on failure."""
        ...

    async def find_order(self, broker_order_id: str) -> str | None:
        """The venue's order id for ``broker_order_id`` if it already has the order."""
        ...


class PaperVenue(AsyncService):
    """The paper exchange: a routed order is an ``OrderIntent`` (venue ``paper``, stage
    ``routed``) on ``paper.orders.v1`` keyed by instrument token. The exchange ignores an
    order id it has seen, so a replayed route changes nothing there."""

    name = "paper"
    dedupes_orders = True

    def __init__(self, publish: Publish) -> None:
        self._publish = publish

    def broker_order_id(self, intent: OrderIntent) -> str:
        """``P-<intent_id>``."""
        return paper_order_id(intent.intent_id)

    async def start(self) -> None:
        """Nothing to connect: records go through the caller's producer."""

    async def stop(self) -> None:
        """Nothing to close."""

    async def place_order(self, intent: OrderIntent, broker_order_id: str) -> str:
        """Publish the routed order; the caller's producer sends it after the ROUTED event."""
        routed = intent.replace(venue=self.name, stage="routed")
        self._publish(PAPER_ORDERS_TOPIC, intent.instrument_token.encode(), routed)
        return broker_order_id

    async def find_order(self, broker_order_id: str) -> str | None:
        """Never needed (the exchange dedupes by id); None."""
        return None

    async def cancel_order(self, intent: OrderIntent, broker_order_id: str) -> None:
        """Publish a cancel marker behind the order (same key, so same partition)."""
        marker = intent.replace(venue=self.name, stage=CANCEL_STAGE)
        self._publish(PAPER_ORDERS_TOPIC, intent.instrument_token.encode(), marker)
