"""``AsyncService``: the start / stop / ``async with`` shape every connector shares."""

from __future__ import annotations

from typing import Self

__all__ = ["AsyncService"]


class AsyncService:
    """Something with ``start()`` and ``stop()``; ``async with`` starts it and stops it."""

    async def start(self) -> None:
        """Open connections (nothing by default)."""

    async def stop(self) -> None:
        """Close them (nothing by default)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
