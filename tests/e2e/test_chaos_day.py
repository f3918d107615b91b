"""A chaos day: 600 intents over 20 accounts flow while the worker is
SIGKILLed three times, twice of them during its own recovery (a few seconds after the restart,
before its replay gate opens), the sink twice (the second time just after it joined) and the
paper exchange twice. Then two storms: the worker is killed, a burst of intents lands while it
recovers, and it is killed again before its gate opens. After the day and after each storm,
every partition of every topic the worker and the sink consume is drained (committed offsets
at the end offsets), every intent has its decision in Postgres, none was routed twice.

Before ``streams/recovery.py`` a recovering worker could lose the records it fetched while its
partitions were being sought; those partitions then never committed again and their intents
never got an event (docs/order-pipeline.md, "Recovery: seek, then resume"). Only the recovery
of the last worker of a round decides the outcome (a later restart replays the gap), so each
storm is one more chance to catch it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from random import Random

import asyncpg
import pytest

from connectors.sink.tables import SUNK_TOPICS
from schemas.records import OrderIntent
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
STORMS, STORM = 2, 60
DRAIN_S = 120.0


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


def _intents(unique: str, first: int, count: int) -> list[OrderIntent]:
    return [
        make_intent(
            intent_id=f"{ACCOUNTS[n % 20]}-{n}-{unique}",
            account_id=ACCOUNTS[n % 20],
            client_order_id=f"c{n}-{unique}",
            quantity=1,
            price=Decimal("2450.00"),
        )
        for n in range(first, first + count)
    ]


async def _feed(bootstrap: str, intents: list[OrderIntent]) -> None:
    """The day's intents, ten every half second."""
    for start in range(0, len(intents), 10):
        await produce(bootstrap, INTENTS, intents[start : start + 10])
        await asyncio.sleep(0.5)


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


@dataclass
class Drain:
    """What is left undone after a round: lagging partitions and undecided intents."""

    worker: dict[str, int] = field(default_factory=dict)
    sink: dict[str, int] = field(default_factory=dict)
    undecided: list[str] = field(default_factory=list)
    routed_twice: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not (self.worker or self.sink or self.undecided)


async def _drain(chaos: Chaos, bootstrap: str, schema: str, ids: list[str]) -> Drain:
    """Poll (bounded) until everything is drained and decided; what is left otherwise."""
    env = chaos.env
    app_id, group = env["TRADEPIPE_APP_ID"], env["TRADEPIPE_SINK__GROUP_ID"]
    deadline = time.monotonic() + DRAIN_S
    while True:
        decided, routed = await _decided(schema, ids)
        left = Drain(
            await group_behind(bootstrap, app_id, WORKER_INPUTS),
            await sink_behind(bootstrap, PG_DSN, schema, group, SUNK_TOPICS),
            sorted(set(ids) - decided),
            sorted(i for i, n in routed.items() if n > 1),
        )
        if left.done or time.monotonic() > deadline:
            return left
        await asyncio.sleep(2.0)


async def _storm(chaos: Chaos, bootstrap: str, intents: list[OrderIntent]) -> None:
    """Kill the running worker; while it recovers a burst lands and it is killed again."""
    half = len(intents) // 2
    chaos.kill_and_restart("worker")
    await produce(bootstrap, INTENTS, intents[:half])
    await chaos.logged("worker", "worker_starting")
    await asyncio.sleep(chaos.rng.uniform(2.0, 4.0))
    chaos.kill_and_restart("worker")
    await produce(bootstrap, INTENTS, intents[half:])


async def test_chaos_day_drains_every_partition_and_decides_every_intent(
    fresh_broker: EmbeddedBroker, tmp_path: Path, unique: str, pg_schema: str
) -> None:
    # Arrange
    bootstrap = fresh_broker.bootstrap_servers
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
    env = env_for(
        bootstrap,
        TRADEPIPE_APP_ID=f"tp-chaos-{unique}",
        TRADEPIPE_REDIS__URL=REDIS_URL,
        TRADEPIPE_REDIS__KEY_PREFIX=f"tp-test:{unique}:",
        TRADEPIPE_POSTGRES__DSN=PG_DSN,
        TRADEPIPE_POSTGRES__DB_SCHEMA=pg_schema,
        TRADEPIPE_SINK__GROUP_ID=f"sink-{unique}",
        TRADEPIPE_SINK__BATCH_MAX_WAIT_MS="100",
    )
    chaos = Chaos(env, tmp_path, Random(unique))
    for name in ("sink", "paper", "worker"):
        chaos.start(name)
    day = _intents(unique, 0, N_INTENTS)
    storms = [_intents(unique, N_INTENTS + k * STORM, STORM) for k in range(STORMS)]
    rounds: list[Drain] = []
    try:
        # Act: the day, with the kills while it flows, drained; then the storms, each drained
        await asyncio.gather(_feed(bootstrap, day), chaos.worker(), chaos.sink(), chaos.paper())
        ids = [i.intent_id for i in day]
        rounds.append(await _drain(chaos, bootstrap, pg_schema, ids))
        for burst in storms:
            if not rounds[-1].done:
                break
            await _storm(chaos, bootstrap, burst)
            ids += [i.intent_id for i in burst]
            rounds.append(await _drain(chaos, bootstrap, pg_schema, ids))
        alive = all(p.proc is not None and p.proc.poll() is None for p in chaos.procs.values())
    finally:
        chaos.stop()
    # Assert
    context = (chaos.history, chaos.procs["worker"].log()[-2000:])
    for n, left in enumerate(rounds, start=1):
        assert left.worker == {}, (f"round {n}: worker group behind", left.worker, *context)
        assert left.sink == {}, (f"round {n}: sink behind", left.sink, *context)
        assert left.undecided == [], (
            f"round {n}: {len(left.undecided)} intents undecided",
            left.undecided[:10],
            *context,
        )
        assert left.routed_twice == [], (f"round {n}: routed twice", left.routed_twice[:10])
    assert len(rounds) == 1 + STORMS
    assert chaos.kills == {"worker": 3 + 2 * STORMS, "sink": 2, "paper": 2}, context
    assert chaos.killed_recovering >= 1 + STORMS, context
    assert alive, context
