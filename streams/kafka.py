"""Kafka client configuration in one place, for aiokafka, confluent-kafka and Faust alike.

The dev profile carries what the embedded broker needs (docs/embedded-broker.md): idempotence
off, short session timeout, batched producers, default fetch waits. Security (SASL, TLS) comes
from the same ``KafkaSettings`` fields for every client: ``_security`` (aiokafka),
``confluent_security`` (librdkafka) and ``faust_credentials`` (the Faust app).
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from streams.errors import ConfigError
from streams.settings import KafkaSettings, Settings

__all__ = [
    "admin_client",
    "aiokafka_consumer",
    "aiokafka_producer",
    "confluent_producer_config",
    "confluent_security",
    "faust_credentials",
    "ssl_context",
    "trace_headers",
]

_TLS = frozenset({"SSL", "SASL_SSL"})


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (``None`` for the plaintext protocols)."""
    if kafka.security_protocol not in _TLS:
        return None
    from aiokafka.helpers import create_ssl_context

    password = kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=kafka.ssl_cafile,
            certfile=kafka.ssl_certfile,
            keyfile=kafka.ssl_keyfile,
            password=password,
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the Kafka TLS files: {exc}") from exc
    return context


def _sasl_password(kafka: KafkaSettings) -> str:
    return kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""


def _security(kafka: KafkaSettings) -> dict[str, Any]:
    conf: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.sasl_mechanism:
        conf["sasl_mechanism"] = kafka.sasl_mechanism
        conf["sasl_plain_username"] = kafka.sasl_username
        conf["sasl_plain_password"] = _sasl_password(kafka)
    context = ssl_context(kafka)
    if context is not None:
        conf["ssl_context"] = context
    return conf


def confluent_security(kafka: KafkaSettings) -> dict[str, Any]:
    """librdkafka's security options (every confluent-kafka client takes them)."""
    conf: dict[str, Any] = {"security.protocol": kafka.security_protocol}
    if kafka.sasl_mechanism:
        conf["sasl.mechanism"] = kafka.sasl_mechanism
        conf["sasl.username"] = kafka.sasl_username or ""
        conf["sasl.password"] = _sasl_password(kafka)
    if kafka.security_protocol in _TLS:
        # The wheel's own OpenSSL does not know Debian's CA path: "probe" finds it.
        conf["ssl.ca.location"] = str(kafka.ssl_cafile) if kafka.ssl_cafile else "probe"
        if kafka.ssl_certfile and kafka.ssl_keyfile:
            conf["ssl.certificate.location"] = str(kafka.ssl_certfile)
            conf["ssl.key.location"] = str(kafka.ssl_keyfile)
        if kafka.ssl_key_password:
            conf["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
    return conf


def faust_credentials(kafka: KafkaSettings) -> Any:
    """The Faust app's ``broker_credentials`` (``None`` for PLAINTEXT)."""
    import faust

    context = ssl_context(kafka)
    if kafka.sasl_mechanism:
        # With a context Faust speaks SASL_SSL, without one SASL_PLAINTEXT: the settings'
        # validator keeps that in step with security_protocol.
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=_sasl_password(kafka),
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


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
        **confluent_security(kafka),
        # The Java client's (and aiokafka's) key hash: librdkafka's default (CRC32) would put
        # a key on another partition than the rest of the pipeline and break co-partitioning.
        "partitioner": "murmur2_random",
    }
    conf.update(overrides)
    return conf


def trace_headers(trace_id: str, **extra: str) -> list[tuple[str, bytes]]:
    """Kafka headers that carry the trace id (and any extra string headers)."""
    headers = [("trace_id", trace_id.encode())]
    headers.extend((k, v.encode()) for k, v in extra.items())
    return headers
