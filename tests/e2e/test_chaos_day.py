"""A chaos day (issue 10, item 7): 600 intents over 20 accounts flow while the worker is
SIGKILLed three times, twice of them during its own recovery (a few seconds after the restart,
before its replay gate opens), the sink twice (the second time while it starts) and the paper
exchange twice. Afterwards every partition of every topic the worker and the sink consume is
drained (committed offsets at the end offsets), every intent has its decision in Postgres and
was routed at most once.

Before ``streams/recovery.py`` a recovering worker could lose the records it fetched while
its partitions were being sought; their partitions then never committed again and their
intents never got an event (docs/order-pipeline.md, "After a restart or rebalance").
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from random import Random

import asyncpg
import pytest

from connectors.sink.tables import SUNK_TOPICS
from streams.embedded import EmbeddedBroker
from streams.settings import KafkaSettings
from streams.topics import CONTROL, FILLS, INTENTS, ORDER_EVENTS, ensure_topics
from tests.conftest import PG_DSN, REDIS_URL
from tests.factories import make_intent
from tests.harness import TradepipeProcess, env_for, group_behind, produce, sink_behind

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
]

ACCOUNTS = [f"CH{n:02d}" for n in range(20)]
N_INTENTS = 600
WORKER_INPUTS = (INTENTS, ORDER_EVENTS, FILLS, CONTROL)
DECISIONS = ("ROUTED", "DENIED", "REJECTED", "ROUTE_FAILED")
DRAIN_S = 150.0


class Chaos:
    """The three processes, each restarted at once after every SIGKILL (one log per life)."""

    def __init__(self, env: dict[str, str], logs: Path, rng: Random) -> None:
        self.env = env
        self.logs = logs
        self.rng = rng
        self.procs: dict[str, TradepipeProcess] = {}
        self.lives: Counter[str] = Counter()
        self.kills: Counter[str] = Counter()
        self.killed_recovering = 0
        self.history: list[str] = []
        self.t0 = time.monotonic()

    def start(self, name: str) -> None:
        self.lives[name] += 1
        log = self.logs / f"{name}-{self.lives[name]}.log"
        self.procs[name] = TradepipeProcess([name], self.env, log).start()

    def kill_and_restart(self, name: str) -> None:
        proc = self.procs[name]
        recovering = name == "worker" and "replay_gate_open" not in proc.log()
        proc.kill()
        self.kills[name] += 1
        self.killed_recovering += recovering
        state = " (recovering)" if recovering else ""
        self.history.append(
            f"{time.monotonic() - self.t0:5.1f}s kill {name}-{self.lives[name]}{state}"
        )
        self.start(name)

    async def logged(self, name: str, text: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.procs[name].log():
            assert time.monotonic() < deadline, f"{name}: no {text!r} in {timeout}s"
            await asyncio.sleep(0.1)

    async def worker(self) -> None:
        # running: the first worker has opened its gate and is deciding intents
        await self.logged("worker", "replay_gate_open")
        await asyncio.sleep(self.rng.uniform(0.5, 3.0))
        self.kill_and_restart("worker")
        # then twice during recovery, with a backlog of intents behind it
        for _ in range(2):
            await self.logged("worker", "worker_starting")
            await asyncio.sleep(self.rng.uniform(2.0, 5.0))
            self.kill_and_restart("worker")

    async def sink(self) -> None:
        await asyncio.sleep(self.rng.uniform(3.0, 8.0))
        self.kill_and_restart("sink")
        await self.logged("sink", "sink_started")  # joined: seeking to its Postgres offsets
        await asyncio.sleep(self.rng.uniform(0.0, 1.5))
        self.kill_and_restart("sink")

    async def paper(self) -> None:
        for _ in range(2):
            await asyncio.sleep(self.rng.uniform(5.0, 12.0))
            self.kill_and_restart("paper")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.proc is not None and proc.proc.poll() is None:
                proc.stop()


async def _feed(bootstrap: str, unique: str) -> list[str]:
    """The day's intents, ten every half second; returns their ids."""
    intents = [
        make_intent(
            intent_id=f"{ACCOUNTS[n % 20]}-{n}-{unique}",
            account_id=ACCOUNTS[n % 20],
            client_order_id=f"c{n}-{unique}",
            quantity=1,
            price=Decimal("2450.00"),
        )
        for n in range(N_INTENTS)
    ]
    for start in range(0, N_INTENTS, 10):
        await produce(bootstrap, INTENTS, intents[start : start + 10])
        await asyncio.sleep(0.5)
    return [i.intent_id for i in intents]


async def _decided(schema: str, ids: list[str]) -> tuple[set[str], Counter[str]]:
    """Intents with a decision event in Postgres; ROUTED event ids per intent."""
    conn = await asyncpg.connect(PG_DSN)
    try:
        rows = await conn.fetch(
            f'SELECT intent_id, status, event_id FROM "{schema}".order_events'
            " WHERE intent_id = ANY($1) AND status = ANY($2)",
            ids,
            list(DECISIONS),
        )
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        rows = []
    finally:
        await conn.close()
    events = {(r["event_id"], r["intent_id"], r["status"]) for r in rows}
    routed = Counter(intent for _, intent, status in events if status == "ROUTED")
    return {r["intent_id"] for r in rows}, routed


async def test_chaos_day_drains_every_partition_and_decides_every_intent(
    fresh_broker: EmbeddedBroker, tmp_path: Path, unique: str, pg_schema: str
) -> None:
    # Arrange
    bootstrap = fresh_broker.bootstrap_servers
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
    app_id, sink_group = f"tp-chaos-{unique}", f"sink-{unique}"
    env = env_for(
        bootstrap,
        TRADEPIPE_APP_ID=app_id,
        TRADEPIPE_REDIS__URL=REDIS_URL,
        TRADEPIPE_REDIS__KEY_PREFIX=f"tp-test:{unique}:",
        TRADEPIPE_POSTGRES__DSN=PG_DSN,
        TRADEPIPE_POSTGRES__DB_SCHEMA=pg_schema,
        TRADEPIPE_SINK__GROUP_ID=sink_group,
        TRADEPIPE_SINK__BATCH_MAX_WAIT_MS="100",
    )
    chaos = Chaos(env, tmp_path, Random(unique))
    for name in ("sink", "paper", "worker"):
        chaos.start(name)
    worker_behind: dict[str, int] = {}
    sink_lag: dict[str, int] = {}
    decided: set[str] = set()
    routed: Counter[str] = Counter()
    try:
        # Act: the day, with the kills while it flows
        ids, *_ = await asyncio.gather(
            _feed(bootstrap, unique), chaos.worker(), chaos.sink(), chaos.paper()
        )
        # Assert (polled, bounded): drained and decided
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline:
            worker_behind = await group_behind(bootstrap, app_id, WORKER_INPUTS)
            sink_lag = await sink_behind(bootstrap, PG_DSN, pg_schema, sink_group, SUNK_TOPICS)
            decided, routed = await _decided(pg_schema, ids)
            if not worker_behind and not sink_lag and len(decided) == len(ids):
                break
            await asyncio.sleep(2.0)
        last_worker = chaos.procs["worker"]
        alive = all(p.proc is not None and p.proc.poll() is None for p in chaos.procs.values())
    finally:
        chaos.stop()
    context = (chaos.history, last_worker.log()[-2000:])
    assert chaos.kills == {"worker": 3, "sink": 2, "paper": 2}, context
    assert chaos.killed_recovering >= 1, context
    assert alive, context
    assert worker_behind == {}, (worker_behind, *context)
    assert sink_lag == {}, (sink_lag, *context)
    missing = sorted(set(ids) - decided)
    assert missing == [], (len(missing), missing[:10], *context)
    assert routed and max(routed.values()) == 1, routed.most_common(3)
