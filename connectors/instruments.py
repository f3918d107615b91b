"""The instrument master, loaded from Angel One's ``OpenAPIScripMaster.json`` format.

Format (checked against public copies of the file): a JSON list of objects whose values are
all strings::

    {"token": "43650", "symbol": "NIFTY26NOV2624500CE", "name": "NIFTY",
     "expiry": "26NOV2026", "strike": "2450000.000000", "lotsize": "75",
     "instrumenttype": "OPTIDX", "exch_seg": "NFO", "tick_size": "5.000000"}

* ``expiry`` is ``DDMONYYYY`` (upper or mixed case: ``26NOV2026``, ``04Apr2024``) or ``""``.
* ``strike`` is in paise (``2450000.000000`` = ₹24,500); ``-1.000000`` means "no strike".
* ``tick_size`` is in paise (``5.000000`` = ₹0.05; CDS ``0.250000`` = ₹0.0025); indices carry
  ``-1``.
* ``instrumenttype`` is ``""`` for cash equities, ``FUTIDX/FUTSTK/OPTIDX/OPTSTK`` on NFO/BFO,
  ``FUTCOM`` on MCX, ``FUTCUR/OPTCUR`` on CDS and ``AMXIDX`` for indices.

Rows that cannot be traded (a non-positive tick or lot size, an unknown segment) are skipped
and counted, so the master holds only instruments an order can name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from schemas.records import Exchange
from streams.errors import ConfigError, StoreUnavailable
from streams.service import AsyncService

__all__ = [
    "DERIVATIVE_SEGMENTS",
    "SAMPLE_ANCHOR",
    "SAMPLE_PATH",
    "Instrument",
    "InstrumentMaster",
    "RedisInstrumentCache",
    "parse_expiry",
]

SAMPLE_PATH = Path(__file__).parent / "data" / "scrip_master_sample.json"
# The trading day the shipped sample's expiries were written for. ``InstrumentMaster.sample``
# moves every expiry by (trading day - anchor), so the sample looks the same on any date: the
# same contracts are live, the same ones have expired, each as many days away as in the file.
SAMPLE_ANCHOR = date(2026, 11, 21)
DERIVATIVE_SEGMENTS = frozenset({Exchange.NFO, Exchange.BFO, Exchange.MCX, Exchange.CDS})

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    )
}
_MONTH_NAMES = {i: m for m, i in _MONTHS.items()}
_PAISE = Decimal(100)
_EXCHANGES = {e.value: e for e in Exchange}


def _plain(value: Decimal) -> Decimal:
    """Normalised, but never in exponent form (``24500``, not ``2.45E+4``)."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]  # exponent is int for finite values


def parse_expiry(text: str) -> date | None:
    """``"27NOV2026"`` / ``"04Apr2024"`` -> date; ``""`` -> None (locale-independent)."""
    text = text.strip()
    if not text:
        return None
    try:
        return date(int(text[5:]), _MONTHS[text[2:5].upper()], int(text[:2]))
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"bad scrip-master expiry {text!r}") from exc


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable instrument; prices in rupees."""

    token: str
    symbol: str
    name: str
    exchange: Exchange
    expiry: date | None
    strike: Decimal | None
    lot_size: int
    tick_size: Decimal
    instrument_type: str
    is_derivative: bool

    @property
    def key(self) -> str:
        """``"NSE:2885"``: unique across segments (tokens are only unique within one)."""
        return f"{self.exchange}:{self.token}"

    @classmethod
    def from_scrip(cls, row: Mapping[str, Any]) -> Instrument | None:
        """Build from one scrip-master row; None for rows that cannot be traded."""
        exchange = _EXCHANGES.get(str(row.get("exch_seg", "")))
        if exchange is None:
            return None
        try:
            tick_paise = Decimal(str(row["tick_size"]))
            lot = int(Decimal(str(row["lotsize"])))
            strike_paise = Decimal(str(row.get("strike") or "-1"))
        except (KeyError, InvalidOperation, ValueError) as exc:
            raise ConfigError(f"bad scrip-master row {row!r}") from exc
        if tick_paise <= 0 or lot <= 0:
            return None
        itype = str(row.get("instrumenttype", ""))
        return cls(
            token=str(row["token"]),
            symbol=str(row.get("symbol", "")),
            name=str(row.get("name", "")),
            exchange=exchange,
            expiry=parse_expiry(str(row.get("expiry", ""))),
            strike=_plain(strike_paise / _PAISE) if strike_paise > 0 else None,
            lot_size=lot,
            tick_size=_plain(tick_paise / _PAISE),
            instrument_type=itype,
            is_derivative=itype.startswith(("FUT", "OPT")),
        )

    def to_scrip(self) -> dict[str, str]:
        """The scrip-master row this instrument came from (round-trips through from_scrip)."""
        return {
            "token": self.token,
            "symbol": self.symbol,
            "name": self.name,
            "expiry": _format_expiry(self.expiry),
            "strike": f"{self.strike * _PAISE:f}" if self.strike is not None else "-1",
            "lotsize": str(self.lot_size),
            "instrumenttype": self.instrument_type,
            "exch_seg": str(self.exchange),
            "tick_size": f"{self.tick_size * _PAISE:f}",
        }


def _format_expiry(expiry: date | None) -> str:
    if expiry is None:
        return ""
    return f"{expiry.day:02d}{_MONTH_NAMES[expiry.month]}{expiry.year}"


def _symbol_date(day: date) -> str:
    """The ``DDMONYY`` fragment Angel One's derivative symbols carry (``NIFTY26NOV26FUT``)."""
    return f"{day.day:02d}{_MONTH_NAMES[day.month]}{day.year % 100:02d}"


def _redated(inst: Instrument, shift_days: int) -> Instrument:
    if inst.expiry is None or not shift_days:
        return inst
    expiry = date.fromordinal(inst.expiry.toordinal() + shift_days)
    symbol = inst.symbol.replace(_symbol_date(inst.expiry), _symbol_date(expiry), 1)
    return replace(inst, expiry=expiry, symbol=symbol)


class InstrumentMaster:
    """In-process instrument cache: ``(exchange, token) -> Instrument``, O(1) lookups."""

    __slots__ = ("_by_key", "_by_token", "skipped")

    def __init__(self, instruments: Iterable[Instrument] = (), *, skipped: int = 0) -> None:
        self._by_key: dict[tuple[str, str], Instrument] = {}
        # token -> one instrument holding it, only to tell EXCHANGE_MISMATCH apart
        self._by_token: dict[str, Instrument] = {}
        self.skipped = skipped
        for inst in instruments:
            self.add(inst)

    def add(self, inst: Instrument) -> None:
        """Insert or replace one instrument."""
        self._by_key[(inst.exchange.value, inst.token)] = inst
        self._by_token.setdefault(inst.token, inst)

    @classmethod
    def from_scrip(cls, rows: Iterable[Mapping[str, Any]]) -> InstrumentMaster:
        """Build from parsed scrip-master rows."""
        master = cls()
        for row in rows:
            inst = Instrument.from_scrip(row)
            if inst is None:
                master.skipped += 1
            else:
                master.add(inst)
        return master

    @classmethod
    def load(cls, path: str | Path) -> InstrumentMaster:
        """Load an ``OpenAPIScripMaster.json`` file as written (``sample`` re-dates the
        shipped one)."""
        try:
            rows = json.loads(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read scrip master {path}: {exc}") from exc
        if not isinstance(rows, list):
            raise ConfigError(f"scrip master {path} is not a JSON list")
        return cls.from_scrip(rows)

    @classmethod
    def sample(cls, trading_day: date = SAMPLE_ANCHOR) -> InstrumentMaster:
        """The shipped sample with its expiries derived from ``trading_day`` (see
        ``SAMPLE_ANCHOR``): what the demo, the simulator and a fresh stack trade."""
        raw = cls.load(SAMPLE_PATH)
        shift = trading_day.toordinal() - SAMPLE_ANCHOR.toordinal()
        return cls((_redated(inst, shift) for inst in raw), skipped=raw.skipped)

    def get(self, exchange: str, token: str) -> Instrument | None:
        """The instrument on ``exchange`` with ``token``, or None."""
        return self._by_key.get((exchange, token))

    def find(self, exchange: str, token: str) -> Instrument | None:
        """Like ``get``, but falls back to the token on another segment so validation can
        say EXCHANGE_MISMATCH rather than UNKNOWN_INSTRUMENT."""
        inst = self._by_key.get((exchange, token))
        return inst if inst is not None else self._by_token.get(token)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_key.values())

    def __contains__(self, key: object) -> bool:
        return key in self._by_key


class RedisInstrumentCache(AsyncService):
    """The master in one Redis hash (``<prefix>instruments``: ``EXCH:token`` -> scrip row),
    so workers warm from Redis instead of each parsing the full file.

    ``<prefix>instruments:source`` says where the cached master came from: ``file`` (loaded by
    ``tradepipe instruments load``) or ``sample:<trading day>``, so that a sample cached on an
    earlier day is derived again for today instead of expiring in the cache.
    """

    def __init__(self, client: aioredis.Redis, key_prefix: str = "tp:") -> None:
        self._client = client
        self.key = f"{key_prefix}instruments"
        self.source_key = f"{self.key}:source"

    @classmethod
    def from_url(cls, url: str, key_prefix: str = "tp:") -> RedisInstrumentCache:
        """A cache with its own connection pool (closed by ``stop``)."""
        return cls(aioredis.Redis.from_url(url), key_prefix)

    async def start(self) -> None:
        """Check the connection."""
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc

    async def stop(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def store(self, master: InstrumentMaster, source: str = "file") -> int:
        """Replace the cached master atomically; returns the number of instruments."""
        mapping = {inst.key: orjson.dumps(inst.to_scrip()) for inst in master}
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(self.key)
                pipe.set(self.source_key, source)
                if mapping:
                    pipe.hset(self.key, mapping=mapping)  # type: ignore[arg-type]  # bytes values are fine
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc
        return len(mapping)

    async def load(self) -> InstrumentMaster | None:
        """The cached master, or None when Redis holds none."""
        try:
            raw: dict[bytes | str, bytes | str] = await self._client.hgetall(self.key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc
        if not raw:
            return None
        return InstrumentMaster.from_scrip(orjson.loads(v) for v in raw.values())

    async def warm(self, trading_day: date) -> InstrumentMaster:
        """Load from Redis; on a miss (or a sample cached for another day) store the shipped
        sample derived for ``trading_day``."""
        sample_source = f"sample:{trading_day.isoformat()}"
        try:
            source = await self._client.get(self.source_key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc
        # A cache with no source predates the marker: treat it as a sample of unknown day.
        keep = source is not None and _text(source) in ("file", sample_source)
        master = await self.load() if keep else None
        if master is None:
            master = InstrumentMaster.sample(trading_day)
            await self.store(master, source=sample_source)
        return master


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
