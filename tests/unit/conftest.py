"""Fixtures for the pure-logic unit tests (the instrument master, the trading day, Redis)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest
import redis.asyncio as aioredis

from connectors.instruments import InstrumentMaster

REDIS_URL = os.environ.get("TRADEPIPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TODAY = date(2026, 11, 21)


@pytest.fixture(scope="session")
def master() -> InstrumentMaster:
    """The shipped scrip-master sample."""
    return InstrumentMaster.sample()


@pytest.fixture
def today() -> date:
    """The trading day the sample's expiries are chosen around."""
    return TODAY


@pytest.fixture
async def redis_prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    """A unique key prefix, and every key under it deleted afterwards."""
    prefix = f"tptest:{uuid.uuid4().hex}:"
    yield prefix
    keys = [k async for k in redis_client.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis_client.delete(*keys)
