"""The injectable clock: now, the IST trading day, the session and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from streams.clock import Clock, FixedClock, ist_date
from streams.settings import ClockSettings


def test_trading_day_is_the_ist_date_not_the_utc_date() -> None:
    clock = FixedClock(datetime(2030, 5, 6, 20, 0, tzinfo=UTC))  # 01:30 IST on the 7th
    assert clock.trading_day() == date(2030, 5, 7)
    assert ist_date(clock.now()) == date(2030, 5, 7)


def test_pinned_trading_day_wins_over_the_wall_clock() -> None:
    clock = Clock.from_settings(ClockSettings(trading_day=date(2026, 11, 21)))
    assert clock.trading_day() == date(2026, 11, 21)


def test_now_is_aware_utc_and_follows_the_injected_source() -> None:
    clock = Clock(now_ns=lambda: 1_795_219_200_123_456_789)
    assert clock.now() == datetime(2026, 11, 21, 0, 0, 0, 123456, tzinfo=UTC)
    assert clock.now_ns() == 1_795_219_200_123_456_789


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2026, 1, 5, 3, 45, tzinfo=UTC))
    first = clock.now()
    assert clock.now() == first
    clock.advance(timedelta(minutes=90, microseconds=7))
    assert clock.now() - first == timedelta(minutes=90, microseconds=7)
    clock.set(datetime(2030, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2030, 1, 1, tzinfo=UTC)


def test_fixed_clock_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2026, 1, 5))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    ("utc", "open_"),
    [
        (datetime(2026, 11, 23, 3, 44, tzinfo=UTC), False),  # Mon 09:14 IST
        (datetime(2026, 11, 23, 3, 45, tzinfo=UTC), True),  # Mon 09:15 IST
        (datetime(2026, 11, 23, 9, 59, tzinfo=UTC), True),  # Mon 15:29 IST
        (datetime(2026, 11, 23, 10, 0, tzinfo=UTC), False),  # Mon 15:30 IST
        (datetime(2026, 11, 21, 5, 0, tzinfo=UTC), False),  # Saturday
        (datetime(2026, 11, 24, 5, 0, tzinfo=UTC), False),  # a configured holiday
    ],
)
def test_session_is_0915_to_1530_ist_on_trading_days(utc: datetime, open_: bool) -> None:
    clock = FixedClock(utc, holidays=frozenset({date(2026, 11, 24)}))
    assert clock.in_session() is open_
