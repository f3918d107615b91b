"""Pre-trade risk: per-account state (``state``), pure checks (``checks``) and the event
appliers that keep the state current (``events``)."""

from agents.risk.checks import (
    RATE_WINDOW_NS,
    RISK_CHECK_ORDER,
    check_daily_loss,
    check_fat_finger,
    check_gross_exposure,
    check_notional,
    check_open_orders,
    check_order,
    check_position,
    check_rate,
    check_trading_state,
    is_reducing,
    order_price,
    reference_price,
)
from agents.risk.events import apply_control, on_approved, on_fill, on_mark, on_order_closed
from agents.risk.state import (
    GLOBAL_ACCOUNT,
    AccountRisk,
    InstrumentRisk,
    OpenOrder,
    RiskLimits,
    instrument_key,
    limits_for,
    trading_day,
)

__all__ = [
    # state
    "GLOBAL_ACCOUNT",
    # checks
    "RATE_WINDOW_NS",
    "RISK_CHECK_ORDER",
    "AccountRisk",
    "InstrumentRisk",
    "OpenOrder",
    "RiskLimits",
    # state changes
    "apply_control",
    "check_daily_loss",
    "check_fat_finger",
    "check_gross_exposure",
    "check_notional",
    "check_open_orders",
    "check_order",
    "check_position",
    "check_rate",
    "check_trading_state",
    "instrument_key",
    "is_reducing",
    "limits_for",
    "on_approved",
    "on_fill",
    "on_mark",
    "on_order_closed",
    "order_price",
    "reference_price",
    "trading_day",
]
