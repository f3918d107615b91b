"""The Kafka cluster's identity, so the sink can tell a new (empty) cluster from the old one."""

from __future__ import annotations

import asyncio
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.errors import BrokerUnavailable
from streams.kafka import confluent_security
from streams.settings import KafkaSettings

__all__ = ["fetch_cluster_id"]


def _admin_config(kafka: KafkaSettings) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        # librdkafka would print its own connection errors; ours says it in one line.
        "log_level": 0,
        **confluent_security(kafka),
    }
    return conf


def _cluster_id(kafka: KafkaSettings, timeout: float) -> str:
    try:
        # Listing every topic names none, so nothing is auto-created (docs/embedded-broker.md #4).
        metadata = AdminClient(_admin_config(kafka)).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(f"no metadata from {kafka.bootstrap_servers}: {exc}") from exc
    if not metadata.cluster_id:
        raise BrokerUnavailable(f"{kafka.bootstrap_servers} reports no cluster id")
    return str(metadata.cluster_id)


async def fetch_cluster_id(kafka: KafkaSettings, *, wait_s: float = 10.0) -> str:
    """The cluster id the brokers report in their metadata."""
    return await asyncio.to_thread(_cluster_id, kafka, wait_s)
