"""Dead-letter headers, shared by Faust agents and the plain-client processes (no Faust here).

A DLQ record keeps the original key and bytes; its headers say why and where it came from.
"""

from __future__ import annotations

from streams.errors import TradepipeError

__all__ = ["dlq_headers"]


def dlq_headers(
    exc: BaseException, topic: str, partition: int, offset: int, agent: str = ""
) -> list[tuple[str, bytes]]:
    """Headers of a DLQ record: why, and where the original came from."""
    code = exc.code if isinstance(exc, TradepipeError) else type(exc).__name__
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return [
        ("error", str(cause)[:1000].encode()),
        ("error_code", str(code).encode()),
        ("source_topic", topic.encode()),
        ("source_partition", str(partition).encode()),
        ("source_offset", str(offset).encode()),
        ("agent", agent.encode()),
    ]
