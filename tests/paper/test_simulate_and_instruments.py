"""``tradepipe simulate`` paces ticks at the requested rate; ``tradepipe instruments load``
fills the Redis cache and refuses a bad file with one line."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connectors.instruments import SAMPLE_PATH, InstrumentMaster, RedisInstrumentCache
from schemas.records import Tick
from streams.embedded import EmbeddedBroker
from streams.topics import TICKS
from tests.harness import CODEC, collect, env_for

RATE = 200
SECONDS = 3


def _cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.kafka
@pytest.mark.slow
async def test_simulate_publishes_rate_times_duration_ticks_paced_per_second(
    paper_broker: EmbeddedBroker,
) -> None:
    # Arrange
    bootstrap = paper_broker.bootstrap_servers
    args = ("simulate", "--rate", str(RATE), "--duration", str(SECONDS), "--seed", "3")

    # Act
    done = _cli(*args, env=env_for(bootstrap))
    msgs: list[Any] = await collect(bootstrap, TICKS, RATE * SECONDS, timeout=15)

    # Assert
    assert done.returncode == 0, done.stderr
    assert f"published {RATE * SECONDS} ticks" in done.stdout
    assert len(msgs) == RATE * SECONDS
    ticks = [CODEC.decode(m.value, Tick) for m in msgs]
    assert all(m.key == t.instrument_token.encode() for m, t in zip(msgs, ticks, strict=True))
    stamps = sorted(m.timestamp for m in msgs)  # producer create time, ms
    span_s = (stamps[-1] - stamps[0]) / 1000
    assert abs(span_s - (RATE * SECONDS - 1) / RATE) <= 0.25  # tick k leaves at k / rate
    per_second = Counter((ts - stamps[0]) // 1000 for ts in stamps)
    # each whole second from the first tick carries RATE ± 10 % (the last tick may spill over)
    assert all(abs(per_second[s] - RATE) <= RATE * 0.1 for s in range(SECONDS)), per_second


@pytest.mark.redis
async def test_instruments_load_stores_the_master_in_redis_and_prints_counts(
    redis_client: Any, unique: str
) -> None:
    # Arrange
    prefix = f"tp-test:{unique}:"
    env = env_for("127.0.0.1:1", TRADEPIPE_REDIS__KEY_PREFIX=prefix)
    expected = InstrumentMaster.load(SAMPLE_PATH)

    # Act
    done = _cli("instruments", "load", str(SAMPLE_PATH), env=env)
    cached = await RedisInstrumentCache(redis_client, prefix).load()

    # Assert
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(
        f"loaded {len(expected)} instruments ({expected.skipped} skipped)"
    )
    assert cached is not None
    assert {i.key for i in cached} == {i.key for i in expected}


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"token": "1"}', b"[1, 2]"], ids=["broken", "object", "not-rows"]
)
def test_instruments_load_of_a_bad_file_exits_non_zero_with_one_line(
    tmp_path: Path, content: bytes
) -> None:
    # Arrange
    bad = tmp_path / "scrip.json"
    bad.write_bytes(content)

    # Act
    done = _cli("instruments", "load", str(bad), env=env_for("127.0.0.1:1"))

    # Assert
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("tradepipe: ")
    assert "Traceback" not in done.stderr
