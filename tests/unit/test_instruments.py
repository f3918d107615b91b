"""The instrument master: Angel One scrip-master parsing, lookups and the Redis cache."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from connectors.instruments import (
    Instrument,
    InstrumentMaster,
    RedisInstrumentCache,
    parse_expiry,
)
from schemas.records import Exchange
from streams.errors import ConfigError, StoreUnavailable

ROW = {
    "token": "43650",
    "symbol": "NIFTY26NOV2624500CE",
    "name": "NIFTY",
    "expiry": "26NOV2026",
    "strike": "2450000.000000",
    "lotsize": "75",
    "instrumenttype": "OPTIDX",
    "exch_seg": "NFO",
    "tick_size": "5.000000",
}


def test_option_row_converts_paise_to_rupees() -> None:
    inst = Instrument.from_scrip(ROW)
    assert inst is not None
    assert (inst.strike, inst.tick_size, inst.lot_size) == (Decimal("24500"), Decimal("0.05"), 75)
    assert (inst.expiry, inst.is_derivative, inst.exchange) == (
        date(2026, 11, 26),
        True,
        Exchange.NFO,
    )


def test_equity_row_has_no_expiry_nor_strike() -> None:
    inst = Instrument.from_scrip(
        {
            **ROW,
            "expiry": "",
            "strike": "-1.000000",
            "instrumenttype": "",
            "exch_seg": "NSE",
            "lotsize": "1",
        }
    )
    assert inst is not None
    assert (inst.expiry, inst.strike, inst.is_derivative) == (None, None, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("27NOV2026", date(2026, 11, 27)), ("04Apr2024", date(2024, 4, 4)), ("", None)],
)
def test_expiry_parses_upper_and_mixed_case(text: str, expected: date | None) -> None:
    assert parse_expiry(text) == expected


def test_bad_expiry_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_expiry("31XYZ2026")


def test_index_and_unknown_segment_rows_are_skipped_and_counted() -> None:
    rows = [
        ROW,
        {**ROW, "token": "1", "tick_size": "-1.000000"},
        {**ROW, "token": "2", "exch_seg": "NCO"},
    ]
    master = InstrumentMaster.from_scrip(rows)
    assert (len(master), master.skipped) == (1, 2)


def test_sample_loads_with_the_documented_instruments(master: InstrumentMaster) -> None:
    assert 20 <= len(master) <= 40
    names = {(i.exchange, i.token): i.symbol for i in master}
    assert names[(Exchange.NSE, "2885")] == "RELIANCE-EQ"
    assert names[(Exchange.NSE, "11536")] == "TCS-EQ"
    assert {i.exchange for i in master} == set(Exchange)


def test_sample_has_expired_and_live_derivatives_around_the_reference_day(
    master: InstrumentMaster, today: date
) -> None:
    expiries = [i.expiry for i in master if i.is_derivative and i.expiry]
    assert any(e < today for e in expiries)
    assert any(e >= today for e in expiries)


def test_get_is_per_segment_and_find_falls_back_to_the_token(master: InstrumentMaster) -> None:
    assert master.get("NSE", "2885") is not None
    assert master.get("NFO", "2885") is None
    found = master.find("NFO", "2885")
    assert found is not None
    assert found.exchange is Exchange.NSE


def test_every_sample_row_round_trips_through_the_scrip_format(master: InstrumentMaster) -> None:
    assert all(Instrument.from_scrip(i.to_scrip()) == i for i in master)


def test_missing_or_malformed_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        InstrumentMaster.load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(ConfigError):
        InstrumentMaster.load(bad)


@pytest.mark.redis
async def test_redis_cache_stores_and_loads_the_same_master(
    redis_client: aioredis.Redis, redis_prefix: str, master: InstrumentMaster
) -> None:
    cache = RedisInstrumentCache(redis_client, redis_prefix)
    assert await cache.load() is None
    assert await cache.store(master) == len(master)
    loaded = await cache.load()
    assert loaded is not None
    assert sorted(i.key for i in loaded) == sorted(i.key for i in master)
    assert all(loaded.get(i.exchange, i.token) == i for i in master)


@pytest.mark.redis
async def test_redis_cache_warm_falls_back_to_file_and_fills_redis(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    cache = RedisInstrumentCache(redis_client, redis_prefix)
    warmed = await cache.warm()
    assert len(warmed) > 0
    assert await redis_client.hlen(cache.key) == len(warmed)


@pytest.mark.redis
async def test_redis_cache_store_replaces_the_previous_master(
    redis_client: aioredis.Redis, redis_prefix: str, master: InstrumentMaster
) -> None:
    cache = RedisInstrumentCache(redis_client, redis_prefix)
    await cache.store(master)
    small = InstrumentMaster([next(iter(master))])
    await cache.store(small)
    loaded = await cache.load()
    assert loaded is not None
    assert len(loaded) == 1


@pytest.mark.redis
async def test_redis_cache_start_fails_closed_when_redis_is_unreachable() -> None:
    cache = RedisInstrumentCache.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(StoreUnavailable):
        await cache.start()
    await cache.stop()
