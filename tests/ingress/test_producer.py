"""The Kafka-native IntentProducer: sync and async sends, delivery reports, decodable records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.producer import IntentProducer
from schemas.codec import AvroCodec
from schemas.records import Exchange, OrderIntent, OrderType, Side
from schemas.registry import FileRegistry
from streams.embedded import free_port
from streams.errors import BrokerUnavailable
from streams.settings import KafkaSettings, Settings
from streams.topics import INTENTS, ensure_topics
from tests.ingress.support import read_topic

pytestmark = [pytest.mark.kafka]


def _intent(unique: str, n: int) -> OrderIntent:
    return OrderIntent(
        intent_id=f"kp-{unique}-{n}",
        account_id=f"kp-acct-{unique}",
        client_order_id=f"c{n}",
        instrument_token="2885",
        exchange=Exchange.NSE,
        side=Side.SELL,
        quantity=5,
        order_type=OrderType.LIMIT,
        price=Decimal("101.25"),
        source="kafka-client",
    )


async def test_sync_and_async_sends_are_acknowledged_and_decodable(
    kafka_settings: Settings, unique: str
) -> None:
    await ensure_topics(kafka_settings.kafka)

    with IntentProducer(kafka_settings) as producer:
        sync_partition, _ = producer.send(_intent(unique, 1))
        async_partition, _ = await producer.send_async(_intent(unique, 2))
        future = producer.submit(_intent(unique, 3))
        producer.flush()
        assert future.result(5)[0] == sync_partition

    assert sync_partition == async_partition  # same account, same partition
    key = f"kp-acct-{unique}".encode()
    records = await read_topic(
        kafka_settings, INTENTS, lambda rs: sum(r.key == key for r in rs) >= 3
    )
    codec = AvroCodec(FileRegistry())
    mine = [codec.decode(r.value, OrderIntent) for r in records if r.key == key]
    assert [i.intent_id for i in mine] == [f"kp-{unique}-{n}" for n in (1, 2, 3)]
    assert mine[0].price == Decimal("101.25")
    assert all(dict(r.headers)["trace_id"] for r in records if r.key == key)


def test_unreachable_broker_is_a_broker_unavailable_error(
    make_settings: object, unique: str
) -> None:
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}"))

    with (
        IntentProducer(settings, **{"message.timeout.ms": 1500}) as producer,
        pytest.raises(BrokerUnavailable),
    ):
        producer.send(_intent(unique, 1), timeout=5)
