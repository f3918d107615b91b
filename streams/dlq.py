"""Dead-letter headers: one dialect for every writer (worker agents, sink, paper exchange, price
feed). No Faust here, so the plain-client processes share it.

A DLQ record on ``<topic>.dlq`` keeps the original key and bytes; its headers say why and where
it came from (``docs/operations.md``, "Dead-letter topics"):

=================== =============================================================
``error``           the reason, human-readable (at most 1,000 bytes)
``error_code``      machine-readable: a ``TradepipeError.code`` or an exception class
``source_topic``    the topic the record was read from
``source_partition`` its partition (decimal)
``source_offset``   its offset (decimal)
``agent``           the consumer that refused it (agent name, ``sink``, ``paper_exchange``)
=================== =============================================================
"""

from __future__ import annotations

from streams.errors import TradepipeError

__all__ = ["DLQ_HEADERS", "dlq_headers", "error_code", "read_dlq_headers", "refusal_headers"]

DLQ_HEADERS = (
    "error",
    "error_code",
    "source_topic",
    "source_partition",
    "source_offset",
    "agent",
)
"""The header names of every DLQ record, in the order they are written."""

_MAX_ERROR = 1000


def error_code(exc: BaseException) -> str:
    """The machine-readable code of ``exc``: its ``code`` if ours, else its class name."""
    return str(exc.code) if isinstance(exc, TradepipeError) else type(exc).__name__


def refusal_headers(
    code: str, error: str, topic: str, partition: int, offset: int, agent: str
) -> list[tuple[str, bytes]]:
    """Headers of a DLQ record from a code and a reason already known."""
    values = (
        error.encode(errors="replace")[:_MAX_ERROR],
        code.encode(errors="replace"),
        topic.encode(),
        str(partition).encode(),
        str(offset).encode(),
        agent.encode(),
    )
    return list(zip(DLQ_HEADERS, values, strict=True))


def dlq_headers(
    exc: BaseException, topic: str, partition: int, offset: int, agent: str = ""
) -> list[tuple[str, bytes]]:
    """Headers of a DLQ record for a record that raised ``exc``."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return refusal_headers(error_code(exc), str(cause), topic, partition, offset, agent)


def read_dlq_headers(headers: object) -> dict[str, str]:
    """A DLQ record's headers as text, by name (for tools and tests)."""
    pairs = headers if isinstance(headers, list | tuple) else []
    return {
        str(k): (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for k, v in pairs
    }
