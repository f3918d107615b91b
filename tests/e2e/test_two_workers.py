"""Two workers in one consumer group share the partitions; SIGKILL one and the other takes
its partitions, with their table state, and no intent is lost."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.records import OrderEvent, OrderIntent, OrderStatus
from streams.embedded import EmbeddedBroker
from streams.settings import KafkaSettings
from streams.topics import ensure_topics
from tests.factories import make_intent
from tests.harness import TradepipeProcess, env_for, produce
from tests.paper.helpers import TopicReader

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.slow]

ACCOUNTS = [f"ACC{n:02d}" for n in range(24)]
_FINAL = {OrderStatus.REJECTED, OrderStatus.DENIED, OrderStatus.ROUTE_FAILED, OrderStatus.ROUTED}


def _intent(account: str, wave: int, coid: str | None = None) -> OrderIntent:
    return make_intent(
        intent_id=f"{account}-w{wave}",
        account_id=account,
        client_order_id=coid or f"{account}-c{wave}",
        quantity=1,
        price=Decimal("2450.00"),
    )


def _metrics_url(log: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
            if '"metrics_serving"' in line:
                return str(json.loads(line[line.index("{") :])["url"])
        time.sleep(0.2)
    raise AssertionError(f"no metrics url in {log}")


def _processed(url: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - our own loopback endpoint
        text = resp.read().decode()
    match = re.search(r'tradepipe_records_processed_total\{agent="validate_intents"\} (\S+)', text)
    return float(match.group(1)) if match else 0.0


async def _decisions(reader: TopicReader, ids: set[str], timeout: float) -> dict[str, OrderEvent]:
    found: dict[str, OrderEvent] = {}
    deadline = time.monotonic() + timeout
    while not ids <= set(found):
        assert time.monotonic() < deadline, f"undecided: {sorted(ids - set(found))[:5]}"
        await reader.poll()
        for e in reader.records():
            if e.intent_id in ids and e.status in _FINAL:
                found[e.intent_id] = e
    return found


async def test_two_workers_share_partitions_and_survive_losing_one(
    fresh_broker: EmbeddedBroker, tmp_path: Path, unique: str
) -> None:
    # Arrange
    bootstrap = fresh_broker.bootstrap_servers
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
    env = env_for(
        bootstrap,
        TRADEPIPE_APP_ID=f"tp-two-{unique}",
        TRADEPIPE_REDIS__KEY_PREFIX=f"tp-test:{unique}:",
    )
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [TradepipeProcess(["worker"], env, log).start() for log in logs]
    events = TopicReader(bootstrap, "orders.events.v1", OrderEvent)
    try:
        urls = [_metrics_url(log) for log in logs]
        # wait until both are members (a rebalance happens when the second one joins)
        await asyncio.sleep(8)
        wave1 = [_intent(a, 1) for a in ACCOUNTS]
        await produce(bootstrap, "orders.intents.v1", wave1)
        first = await _decisions(events, {i.intent_id for i in wave1}, 90)
        shares = [_processed(u) for u in urls]
        # Act: SIGKILL worker A, with more intents arriving around the kill
        wave2 = [_intent(a, 2) for a in ACCOUNTS]
        replays = [_intent(a, 3, coid=f"{a}-c1") for a in ACCOUNTS]  # reuse wave-1 ids
        await produce(bootstrap, "orders.intents.v1", wave2[:12])
        workers[0].kill()
        await produce(bootstrap, "orders.intents.v1", wave2[12:] + replays)
        later = await _decisions(events, {i.intent_id for i in wave2 + replays}, 120)
        survivor_alive = workers[1].proc is not None and workers[1].proc.poll() is None
    finally:
        for w in workers:
            if w.proc is not None and w.proc.poll() is None:
                w.stop()
        await events.close()
    # Assert
    assert survivor_alive, logs[1].read_text()[-2000:]
    assert all(s > 0 for s in shares), f"partitions not shared: {shares}"
    assert all(e.status is OrderStatus.ROUTED for e in first.values())
    assert all(later[i.intent_id].status is OrderStatus.ROUTED for i in wave2)
    # the duplicate check saw wave 1's ids: the tables moved with their partitions
    assert {later[i.intent_id].reason_code for i in replays} == {"DUPLICATE_CLIENT_ORDER_ID"}
    routed = {e.event_id: e.intent_id for e in events.records() if e.status is OrderStatus.ROUTED}
    assert max(Counter(routed.values()).values()) == 1
