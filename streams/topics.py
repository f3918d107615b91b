"""Topic declarations (docs/topics.md) and their explicit creation before workers start.

The embedded broker auto-creates a topic a client merely asks about with 4 partitions
(docs/embedded-broker.md #4), so every topic is created here first, with its declared
partition count.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from schemas.contracts import TOPIC_VALUE_TYPES, dlq_topic
from streams.settings import KafkaSettings

__all__ = [
    "APPROVED",
    "AUDIT",
    "CONTROL",
    "FILLS",
    "INTENTS",
    "ORDER_EVENTS",
    "PAPER_ORDERS",
    "POSITIONS",
    "TICKS",
    "VALIDATED",
    "TopicSpec",
    "all_topics",
    "ensure_topics",
]

TICKS = "md.ticks.v1"
INTENTS = "orders.intents.v1"
VALIDATED = "orders.validated.v1"
APPROVED = "orders.approved.v1"
ORDER_EVENTS = "orders.events.v1"
FILLS = "exec.fills.v1"
PAPER_ORDERS = "paper.orders.v1"
POSITIONS = "positions.v1"
AUDIT = "audit.events.v1"
CONTROL = "control.commands.v1"

# Keyed by instrument token; every other topic is keyed by account and co-partitioned.
_INSTRUMENT_KEYED = frozenset({TICKS, PAPER_ORDERS})


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic as the pipeline declares it."""

    name: str
    partitions: int
    key: str
    compacted: bool = False


def all_topics(kafka: KafkaSettings, *, with_dlq: bool = True) -> list[TopicSpec]:
    """Every topic of docs/topics.md, with the partition counts from settings."""
    specs: list[TopicSpec] = []
    for name in TOPIC_VALUE_TYPES:
        if name in _INSTRUMENT_KEYED:
            spec = TopicSpec(name, kafka.tick_partitions, "instrument_token")
        else:
            spec = TopicSpec(name, kafka.partitions, "account_id")
        specs.append(spec)
        if with_dlq:
            specs.append(TopicSpec(dlq_topic(name), spec.partitions, spec.key))
    return specs


async def ensure_topics(kafka: KafkaSettings, extra: list[TopicSpec] | None = None) -> list[str]:
    """Create the missing topics; refuse to start if one exists with the wrong partition count."""
    from aiokafka.admin import NewTopic
    from aiokafka.errors import KafkaError, TopicAlreadyExistsError

    from streams.errors import BrokerUnavailable, ConfigError
    from streams.kafka import admin_client

    specs = all_topics(kafka) + list(extra or [])
    admin = admin_client(kafka)
    try:
        await admin.start()
    except (KafkaError, OSError) as exc:
        with contextlib.suppress(KafkaError, OSError):
            await admin.close()
        raise BrokerUnavailable(f"cannot reach Kafka at {kafka.bootstrap_servers}: {exc}") from exc
    try:
        # Only describe topics that exist: asking about a missing one auto-creates it
        # (docs/embedded-broker.md #4).
        names = set(await admin.list_topics())
        present = [s.name for s in specs if s.name in names]
        found: dict[str, int] = {}
        if present:
            for t in await admin.describe_topics(present):
                if t["error_code"] == 0:
                    found[t["topic"]] = len(t["partitions"])
        for spec in specs:
            have = found.get(spec.name)
            if have is not None and have != spec.partitions:
                raise ConfigError(
                    f"topic {spec.name} has {have} partitions, {spec.partitions} declared"
                )
        missing = [s for s in specs if s.name not in names]
        if missing:
            new = [
                NewTopic(
                    s.name,
                    s.partitions,
                    kafka.replication_factor,
                    topic_configs={"cleanup.policy": "compact"} if s.compacted else {},
                )
                for s in missing
            ]
            # Another process may win the race; partition counts were checked above.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        return [s.name for s in missing]
    finally:
        await admin.close()
