"""The one injectable clock: "now" and the trading day.

Every process reads time through a ``Clock`` built from ``Settings.clock``
(``Clock.from_settings``); decision code takes the times it needs as arguments and reads no
clock. The trading day is the Indian (IST, UTC+05:30) calendar day; the regular session runs
09:15-15:30 IST on weekdays that are not configured holidays.

``ClockSettings.trading_day`` pins the trading day (tests, a dry run on a past day); the wall
clock still gives "now". ``FixedClock`` is the test double: a clock that only moves when told.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as clock_time

from streams.settings import ClockSettings

__all__ = [
    "IST",
    "SESSION_CLOSE",
    "SESSION_OPEN",
    "Clock",
    "FixedClock",
    "ist_date",
]

IST = timezone(timedelta(hours=5, minutes=30), "IST")
SESSION_OPEN = clock_time(9, 15)
SESSION_CLOSE = clock_time(15, 30)
_NS = 1_000_000_000


def ist_date(moment: datetime) -> date:
    """The IST calendar day of an aware datetime."""
    return moment.astimezone(IST).date()


class Clock:
    """Wall-clock time and the trading calendar (pin the day with ``trading_day``)."""

    __slots__ = ("_now_ns", "holidays", "pinned_day")

    def __init__(
        self,
        *,
        trading_day: date | None = None,
        holidays: frozenset[date] = frozenset(),
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.pinned_day = trading_day
        self.holidays = holidays
        self._now_ns = now_ns

    @classmethod
    def from_settings(cls, settings: ClockSettings) -> Clock:
        """The process clock as configured."""
        return cls(trading_day=settings.trading_day, holidays=frozenset(settings.holidays))

    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch (UTC)."""
        return self._now_ns()

    def now(self) -> datetime:
        """Now, as an aware UTC datetime."""
        ns = self._now_ns()
        return datetime.fromtimestamp(ns // _NS, UTC) + timedelta(microseconds=ns % _NS // 1000)

    def trading_day(self) -> date:
        """The trading day: the pinned one, else today's IST date."""
        return self.pinned_day if self.pinned_day is not None else ist_date(self.now())

    def is_trading_day(self, day: date) -> bool:
        """A weekday that is not a configured holiday."""
        return day.weekday() < 5 and day not in self.holidays

    def in_session(self, moment: datetime | None = None) -> bool:
        """True inside the regular session (09:15-15:30 IST) of a trading day."""
        local = (moment or self.now()).astimezone(IST)
        return self.is_trading_day(local.date()) and SESSION_OPEN <= local.time() < SESSION_CLOSE


class FixedClock(Clock):
    """A clock that stands still until ``advance``/``set`` move it (tests, backtests)."""

    __slots__ = ("_at_ns",)

    def __init__(
        self,
        at: datetime,
        *,
        trading_day: date | None = None,
        holidays: frozenset[date] = frozenset(),
    ) -> None:
        self._at_ns = _to_ns(at)
        super().__init__(trading_day=trading_day, holidays=holidays, now_ns=lambda: self._at_ns)

    def set(self, at: datetime) -> None:
        """Jump to ``at`` (aware)."""
        self._at_ns = _to_ns(at)

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta``."""
        self._at_ns += int(delta / timedelta(microseconds=1)) * 1000


def _to_ns(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("FixedClock needs an aware datetime")
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000
