"""The instrument master: Angel One scrip-master parsing, lookups and the Redis cache."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from connectors.instruments import (
    SAMPLE_ANCHOR,
    SAMPLE_PATH,
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
async def test_redis_cache_warm_falls_back_to_the_sample_and_fills_redis(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    cache = RedisInstrumentCache(redis_client, redis_prefix)
    day = date(2031, 3, 4)
    warmed = await cache.warm(day)
    assert len(warmed) > 0
    assert await redis_client.hlen(cache.key) == len(warmed)
    assert await redis_client.get(cache.source_key) == b"sample:2031-03-04"
    assert _expiries(warmed) == _expiries(InstrumentMaster.sample(day))


@pytest.mark.redis
async def test_redis_cache_rederives_a_sample_cached_on_an_earlier_day(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    cache = RedisInstrumentCache(redis_client, redis_prefix)
    await cache.warm(date(2026, 1, 5))
    later = date(2026, 9, 1)
    rewarmed = await cache.warm(later)
    assert _expiries(rewarmed) == _expiries(InstrumentMaster.sample(later))
    assert await redis_client.get(cache.source_key) == b"sample:2026-09-01"


@pytest.mark.redis
async def test_redis_cache_keeps_a_loaded_file_across_days(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    cache = RedisInstrumentCache(redis_client, redis_prefix)
    raw = InstrumentMaster.load(SAMPLE_PATH)
    await cache.store(raw, source="file")
    kept = await cache.warm(date(2040, 1, 1))
    assert _expiries(kept) == _expiries(raw)


def _expiries(master: InstrumentMaster) -> dict[str, tuple[date | None, str]]:
    return {i.key: (i.expiry, i.symbol) for i in master}


@pytest.mark.parametrize(
    "day", [date(2019, 2, 28), SAMPLE_ANCHOR, date(2027, 6, 30), date(2044, 12, 31)]
)
def test_sample_expiries_keep_their_distance_from_the_trading_day(day: date) -> None:
    anchor = {i.key: i for i in InstrumentMaster.sample(SAMPLE_ANCHOR)}
    for inst in InstrumentMaster.sample(day):
        before = anchor[inst.key]
        if before.expiry is None:
            assert inst.expiry is None
            assert inst.symbol == before.symbol
            continue
        assert inst.expiry is not None
        assert (inst.expiry - day) == (before.expiry - SAMPLE_ANCHOR)
        assert inst.symbol.replace(f"{inst.expiry:%d%b%y}".upper(), "") == before.symbol.replace(
            f"{before.expiry:%d%b%y}".upper(), ""
        )


def test_sample_has_live_and_expired_derivatives_on_any_day() -> None:
    master = InstrumentMaster.sample(date(2033, 7, 15))
    expiries = [i.expiry for i in master if i.expiry is not None]
    assert any(e < date(2033, 7, 15) for e in expiries)
    assert any(e >= date(2033, 7, 15) for e in expiries)


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
