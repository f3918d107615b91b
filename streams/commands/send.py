"""``tradepipe send``: publish order intents from flags or a JSON file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from schemas.records import OrderIntent
from streams.contract import parse_quantity
from streams.errors import BrokerUnavailable, InvalidInput
from streams.intents import parse_intents
from streams.settings import get_settings
from streams.topics import INTENTS

__all__ = ["publish_intents", "send"]


async def publish_intents(intents: list[OrderIntent], topic: str = INTENTS) -> None:
    """Write intents to ``topic`` and wait for every acknowledgement."""
    from aiokafka.errors import KafkaError

    from streams.app import make_codec
    from streams.kafka import aiokafka_producer, trace_headers

    settings = get_settings()
    encode = make_codec(settings).encoder(topic, OrderIntent)
    producer = aiokafka_producer(settings, request_timeout_ms=10_000)
    try:
        await asyncio.wait_for(producer.start(), 15)
        futures = [
            await producer.send(
                topic,
                encode(intent),
                key=intent.account_id.encode(),
                headers=trace_headers(intent.trace_id),
            )
            for intent in intents
        ]
        await asyncio.gather(*futures)
    except (KafkaError, TimeoutError, OSError) as exc:
        raise BrokerUnavailable(
            f"could not publish to {settings.kafka.bootstrap_servers}: {exc or type(exc).__name__}"
        ) from exc
    finally:
        await producer.stop()


def send(
    account: Annotated[str | None, typer.Option("--account", "-a", help="account id")] = None,
    token: Annotated[str | None, typer.Option("--token", "-t", help="instrument token")] = None,
    exchange: Annotated[str, typer.Option(help="NSE, BSE, NFO, BFO, MCX, CDS")] = "NSE",
    side: Annotated[str, typer.Option(help="BUY or SELL")] = "BUY",
    # text, not int: click's int() takes full-width digits and "2_450"; the contract does not
    qty: Annotated[str | None, typer.Option("--qty", "-q", help="quantity")] = None,
    order_type: Annotated[
        str, typer.Option("--type", help="MARKET, LIMIT, STOPLOSS_LIMIT, STOPLOSS_MARKET")
    ] = "MARKET",
    price: Annotated[str | None, typer.Option(help="limit price")] = None,
    trigger: Annotated[str | None, typer.Option(help="stop trigger price")] = None,
    product: Annotated[
        str, typer.Option(help="DELIVERY, INTRADAY, MARGIN, CARRYFORWARD, BO, CO")
    ] = "DELIVERY",
    variety: Annotated[str, typer.Option(help="NORMAL, STOPLOSS, AMO, ROBO")] = "NORMAL",
    duration: Annotated[str, typer.Option(help="DAY or IOC")] = "DAY",
    client_order_id: Annotated[
        str | None, typer.Option("--client-order-id", help="default: generated")
    ] = None,
    intent_id: Annotated[str | None, typer.Option("--intent-id", help="default: generated")] = None,
    tag: Annotated[str | None, typer.Option(help="tag: letters, digits, _ . : - (<= 32)")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="JSON file: one intent or a list")
    ] = None,
) -> None:
    """Publish an order intent (flags) or intents (``--file``) to orders.intents.v1."""
    payload: Any
    if file is not None:
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInput(f"cannot read {file}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{file} is not JSON: {exc.msg} at line {exc.lineno}") from exc
    else:
        quantity: int | None = None
        if qty is not None:
            try:
                quantity = parse_quantity(qty)
            except ValueError as exc:
                raise InvalidInput(f"--qty: {exc}") from exc
        payload = {
            k: v
            for k, v in {
                "account_id": account,
                "instrument_token": token,
                "exchange": exchange,
                "side": side,
                "quantity": quantity,
                "order_type": order_type,
                "price": price,
                "trigger_price": trigger,
                "product": product,
                "variety": variety,
                "duration": duration,
                "client_order_id": client_order_id,
                "intent_id": intent_id,
                "tag": tag,
            }.items()
            if v is not None
        }
        missing = [
            flag
            for flag, key in (
                ("--account", "account_id"),
                ("--token", "instrument_token"),
                ("--qty", "quantity"),
            )
            if key not in payload
        ]
        if missing:
            raise InvalidInput(f"missing {', '.join(missing)}")
    records = [item.to_record(source="cli") for item in parse_intents(payload)]
    asyncio.run(publish_intents(records))
    for record in records:
        typer.echo(
            orjson.dumps(
                {
                    "intent_id": record.intent_id,
                    "account_id": record.account_id,
                    "client_order_id": record.client_order_id,
                    "trace_id": record.trace_id,
                }
            ).decode()
        )
