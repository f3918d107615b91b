"""The scripted day's hand-computed results and its validation-refusal inputs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from schemas.records import Exchange, OrderType, Product, Variety

__all__ = ["EXPECTED", "REJECTIONS", "RELIANCE"]

D = Decimal
RELIANCE = "2885"

# (account, token) -> (quantity, avg price, realised, fees, unrealised at the last tick)
EXPECTED: dict[tuple[str, str], tuple[int, Decimal, Decimal, Decimal, Decimal]] = {
    # BUY 100 at 2450.05 (fills 40+40+20, fees 29.40+29.40+14.70); SELL 100 at 2444.95
    # (fee 73.35): realised -510.00. BUY 50 at 2446.05 (fee 36.69); SELL 20 at 2446.95
    # (fee 14.68): released cost 20/50 x 122302.50 = 48921.00, realised +18.00.
    # Left: 30 at cost 73381.50 (avg 2446.05), marked at 2450.00: unrealised 118.50.
    ("ACC1", RELIANCE): (30, D("2446.05"), D("-492.00"), D("198.22"), D("118.50")),
    # BUY 10 at 2448.05 (fee 7.34), marked at 2450.00: unrealised 19.50
    ("ACC2", RELIANCE): (10, D("2448.05"), D("0"), D("7.34"), D("19.50")),
}

# Validation refusals reachable through Avro (an unknown exchange cannot be encoded).
_NFO = {"exchange": Exchange.NFO, "product": Product.CARRYFORWARD, "price": D("24000.00")}
_STOP = {"order_type": OrderType.STOPLOSS_LIMIT, "variety": Variety.STOPLOSS}
REJECTIONS: dict[str, dict[str, Any]] = {
    "UNKNOWN_INSTRUMENT": {"instrument_token": "999999"},
    "EXCHANGE_MISMATCH": {"exchange": Exchange.BSE},
    "SYMBOL_MISMATCH": {"symbol": "SBIN-EQ"},
    "DERIVATIVE_EXPIRED": {**_NFO, "instrument_token": "35012", "quantity": 75},
    "QTY_NOT_POSITIVE": {"quantity": 0},
    "QTY_NOT_LOT_MULTIPLE": {**_NFO, "instrument_token": "35001", "quantity": 50},
    "LIMIT_NEEDS_PRICE": {"price": None},
    "MARKET_HAS_PRICE": {"order_type": OrderType.MARKET},
    "STOP_NEEDS_TRIGGER": dict(_STOP),
    "TRIGGER_NOT_ALLOWED": {"trigger_price": D("2400.00")},
    "PRICE_NOT_POSITIVE": {"price": D("-1.00")},
    "TRIGGER_NOT_POSITIVE": {**_STOP, "trigger_price": D("-5.00")},
    "PRICE_NOT_ON_TICK": {"price": D("2450.03")},
    "TRIGGER_NOT_ON_TICK": {**_STOP, "trigger_price": D("2440.01")},
    "TRIGGER_WRONG_SIDE": {**_STOP, "trigger_price": D("2460.00")},
    "VARIETY_NOT_ALLOWED": {"variety": Variety.STOPLOSS},
    "PRODUCT_NOT_ALLOWED": {"product": Product.CARRYFORWARD},
}
