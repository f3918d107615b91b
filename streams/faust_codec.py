"""The Avro codec plugged into Faust, and a Topic that sends undecodable records to the DLQ.

Agents receive typed records (``schemas.records``); a record whose bytes do not decode goes
to ``<topic>.dlq`` with the reason in its headers and the partition keeps moving.
"""

from __future__ import annotations

from typing import Any

import faust
import structlog
from faust.serializers import codecs
from faust.types import AppT, CodecArg

from schemas.codec import AvroCodec
from schemas.contracts import dlq_topic
from schemas.records import Record
from streams.dlq import dlq_headers
from streams.errors import DecodeError
from streams.metrics import AGENT_ERRORS, DLQ_RECORDS

__all__ = [
    "DECODER",
    "AvroFaustCodec",
    "DlqTopic",
    "codec_name",
    "dlq_headers",
    "register_codecs",
    "send_to_dlq",
]

log = structlog.get_logger(__name__)

DECODER = "worker"
"""The ``agent`` header of a record that did not decode before reaching any agent."""


def codec_name(record_type: type[Record]) -> str:
    """The Faust serializer name of a record type, e.g. ``avro:OrderIntent``."""
    return f"avro:{record_type.__name__}"


class AvroFaustCodec(codecs.Codec):
    """Faust codec: Confluent-framed Avro bytes ↔ a typed record."""

    def __init__(self, codec: AvroCodec, topic: str, record_type: type[Record]) -> None:
        super().__init__()
        self.avro = codec
        self.record_type = record_type
        self._encode = codec.encoder(topic, record_type)

    def _dumps(self, obj: Any) -> bytes:
        return self._encode(obj)

    def _loads(self, data: bytes) -> Any:
        return self.avro.decode(data, self.record_type)


def register_codecs(codec: AvroCodec, topics: dict[str, type[Record]]) -> dict[str, CodecArg]:
    """Register one Faust codec per (topic, record type); returns topic → codec name."""
    names: dict[str, CodecArg] = {}
    for topic, record_type in topics.items():
        name = f"{codec_name(record_type)}@{topic}"
        codecs.register(name, AvroFaustCodec(codec, topic, record_type))
        names[topic] = name
    return names


class DlqTopic(faust.Topic):
    """A Faust topic whose undecodable records go to ``<topic>.dlq`` instead of the agent."""

    async def on_value_decode_error(self, exc: Exception, message: Any) -> None:
        # Faust has already acked the message; write the DLQ copy before anything else and
        # do not rethrow into the agent, so the partition keeps moving.
        source = message.topic
        reason = exc.__cause__ if isinstance(exc.__cause__, DecodeError) else exc
        # decoding happens before any agent sees the record: the worker refused it
        await send_to_dlq(
            self.app,
            source,
            message.partition,
            message.offset,
            message.key,
            message.value,
            reason,
            DECODER,
        )

    async def on_key_decode_error(self, exc: Exception, message: Any) -> None:
        await self.on_value_decode_error(exc, message)


async def send_to_dlq(
    app: AppT,
    source: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    exc: BaseException,
    agent: str = "",
) -> None:
    """Write the original bytes to ``<source>.dlq`` with the reason; wait for the broker's ack."""
    headers = dlq_headers(exc, source, partition, offset, agent)
    code = headers[1][1].decode()
    fut = await app.producer.send(
        dlq_topic(source), key=key, value=value, partition=None, timestamp=None, headers=headers
    )
    await fut
    DLQ_RECORDS.labels(topic=source, code=code).inc()
    AGENT_ERRORS.labels(agent="decode" if agent in ("", DECODER) else agent, code=code).inc()
    log.warning(
        "record_dead_lettered",
        source_topic=source,
        partition=partition,
        offset=offset,
        error_code=code,
        error=str(exc)[:200],
    )
