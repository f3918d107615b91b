"""Kafka client configuration in one place, for aiokafka and confluent-kafka alike.

The dev profile carries what the embedded broker needs (docs/embedded-broker.md): idempotence off,
short session timeout, batched producers, default fetch waits.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from streams.settings import KafkaSettings, Settings

__all__ = [
    "admin_client",
    "aiokafka_consumer",
    "aiokafka_producer",
    "confluent_producer_config",
    "trace_headers",
]


def _security(kafka: KafkaSettings) -> dict[str, Any]:
    conf: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.sasl_mechanism:
        conf["sasl_mechanism"] = kafka.sasl_mechanism
        conf["sasl_plain_username"] = kafka.sasl_username
        conf["sasl_plain_password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        )
    return conf


def admin_client(kafka: KafkaSettings) -> AIOKafkaAdminClient:
    """An aiokafka admin client."""
    return AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers, **_security(kafka))


def aiokafka_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """An aiokafka producer: acks from all in-sync replicas, batched, idempotent on real Kafka."""
    kafka = settings.kafka
    conf: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "acks": "all",
        "linger_ms": kafka.linger_ms,
        "enable_idempotence": settings.idempotent_producer,
        **_security(kafka),
    }
    conf.update(overrides)
    return AIOKafkaProducer(**conf)


def aiokafka_consumer(
    settings: Settings, *topics: str, group_id: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    """An aiokafka consumer with the profile's session timeout and manual commits."""
    kafka = settings.kafka
    conf: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": int(kafka.session_timeout_s * 1000),
        "heartbeat_interval_ms": int(kafka.heartbeat_interval_s * 1000),
        **_security(kafka),
    }
    conf.update(overrides)
    return AIOKafkaConsumer(*topics, **conf)


def confluent_producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """librdkafka configuration for confluent-kafka producers."""
    kafka = settings.kafka
    conf: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "acks": "all",
        "linger.ms": max(kafka.linger_ms, 1),
        "enable.idempotence": settings.idempotent_producer,
        "security.protocol": kafka.security_protocol,
        # The Java client's (and aiokafka's) key hash: librdkafka's default (CRC32) would put
        # a key on another partition than the rest of the pipeline and break co-partitioning.
        "partitioner": "murmur2_random",
    }
    if kafka.sasl_mechanism:
        conf["sasl.mechanism"] = kafka.sasl_mechanism
        conf["sasl.username"] = kafka.sasl_username or ""
        conf["sasl.password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
        )
    conf.update(overrides)
    return conf


def trace_headers(trace_id: str, **extra: str) -> list[tuple[str, bytes]]:
    """Kafka headers that carry the trace id (and any extra string headers)."""
    headers = [("trace_id", trace_id.encode())]
    headers.extend((k, v.encode()) for k, v in extra.items())
    return headers
