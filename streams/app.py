"""The Faust app factory and the pipeline's topic handles.

``build_pipeline(settings)`` returns the app with every topic declared (typed, DLQ-aware);
agents register themselves on it (``agents.register_all``). Nothing is built on import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faust

from schemas.codec import AvroCodec
from schemas.contracts import TOPIC_VALUE_TYPES
from streams.codec_factory import make_codec, make_registry
from streams.faust_codec import DlqTopic, register_codecs
from streams.kafka import faust_credentials
from streams.settings import Profile, Settings

__all__ = ["Pipeline", "build_pipeline", "faust_broker_urls", "make_codec", "make_registry"]


def faust_broker_urls(bootstrap_servers: str) -> list[str]:
    """``host:port,host:port`` → Faust's ``kafka://`` URLs."""
    return [f"kafka://{hp.strip()}" for hp in bootstrap_servers.split(",") if hp.strip()]


@dataclass
class Pipeline:
    """The Faust app with its settings, codec and typed topics."""

    app: faust.App
    settings: Settings
    codec: AvroCodec
    topics: dict[str, Any] = field(default_factory=dict)

    def topic(self, name: str) -> Any:
        """The declared Faust topic ``name``."""
        return self.topics[name]


def build_pipeline(settings: Settings, *, owns_tables: bool = True) -> Pipeline:
    """Build the Faust app for ``settings`` with every topic of docs/topics.md declared."""
    kafka = settings.kafka
    dev = settings.profile is Profile.DEV
    batch_size = kafka.producer_max_batch_size
    if batch_size is None and dev and owns_tables:
        # One record per produce batch: Tansu's low highwater otherwise loses the tail of a
        # changelog on recovery (docs/embedded-broker.md #3). Real Kafka keeps batching.
        batch_size = 1
    conf: dict[str, Any] = {
        "broker": faust_broker_urls(kafka.bootstrap_servers),
        "broker_session_timeout": kafka.session_timeout_s,
        "broker_heartbeat_interval": kafka.heartbeat_interval_s,
        "broker_rebalance_timeout": max(kafka.session_timeout_s * 2, 10.0),
        "broker_commit_interval": 1.0,
        "producer_acks": -1,
        "producer_linger": kafka.linger_ms / 1000.0,
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "store": "memory://",
        "web_enabled": False,
        "stream_recovery_delay": 0.5 if dev else 3.0,
        "table_cleanup_interval": 30.0,
    }
    if batch_size is not None:
        conf["producer_max_batch_size"] = batch_size
    credentials = faust_credentials(kafka)
    if credentials is not None:
        conf["broker_credentials"] = credentials
    app = faust.App(settings.app_id, **conf)
    codec = make_codec(settings)
    names = register_codecs(codec, TOPIC_VALUE_TYPES)
    pipeline = Pipeline(app=app, settings=settings, codec=codec)
    for topic, serializer in names.items():
        pipeline.topics[topic] = DlqTopic(
            app,
            topics=[topic],
            key_type=bytes,
            key_serializer="raw",
            value_serializer=serializer,
            partitions=None,
            internal=False,
        )
    return pipeline
