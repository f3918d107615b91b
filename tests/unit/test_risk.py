"""Pre-trade risk: each check, the check order, the event appliers and state round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.reasons import ReasonCode
from agents.risk import (
    GLOBAL_ACCOUNT,
    RISK_CHECK_ORDER,
    AccountRisk,
    RiskLimits,
    apply_control,
    check_order,
    instrument_key,
    is_reducing,
    limits_for,
    on_approved,
    on_fill,
    on_mark,
    on_order_closed,
    trading_day,
)
from schemas.records import CommandKind, OrderType, Side, TradingState
from streams.settings import RiskSettings
from tests.factories import FIXED_NS, make_command, make_fill, make_intent

LAST = Decimal("2450.00")
SEC = 1_000_000_000
KEY = instrument_key("NSE", "2885")


def deny(
    state: AccountRisk,
    limits: RiskLimits | None = None,
    *,
    now: int = FIXED_NS,
    last: Decimal | None = LAST,
    glob: TradingState = TradingState.ACTIVE,
    **overrides: object,
) -> ReasonCode | None:
    return check_order(
        make_intent(**overrides), state, limits or RiskLimits(), now, last, global_state=glob
    )


def long_position(qty: int, price: str = "2450.00") -> AccountRisk:
    state = AccountRisk("ACC1")
    on_fill(
        state,
        make_fill(side=Side.BUY if qty > 0 else Side.SELL, quantity=abs(qty), price=Decimal(price)),
    )
    return state


def test_limits_default_to_settings() -> None:
    assert RiskLimits.from_settings(RiskSettings()) == RiskLimits()


def test_approves_plain_order_on_fresh_account() -> None:
    assert deny(AccountRisk("ACC1")) is None


def test_denies_everything_when_account_halted() -> None:
    state = long_position(10)
    state.trading_state = TradingState.HALTED
    assert deny(state, side=Side.SELL) is ReasonCode.TRADING_HALTED


def test_denies_everything_when_global_kill_switch_halted() -> None:
    assert deny(AccountRisk("ACC1"), glob=TradingState.HALTED) is ReasonCode.TRADING_HALTED


def test_reducing_state_passes_an_order_that_shrinks_the_position() -> None:
    state = long_position(10)
    state.trading_state = TradingState.REDUCING
    assert deny(state, side=Side.SELL, quantity=10) is None


def test_reducing_state_denies_an_order_that_would_flip_the_position() -> None:
    state = long_position(10)
    assert deny(state, glob=TradingState.REDUCING, side=Side.SELL, quantity=11) is (
        ReasonCode.REDUCING_ONLY
    )


def test_reducing_counts_open_orders_on_the_same_side() -> None:
    state = long_position(10)
    on_approved(state, make_intent(side=Side.SELL, quantity=6), FIXED_NS, LAST)
    assert not is_reducing(make_intent(side=Side.SELL, quantity=5), state)
    assert is_reducing(make_intent(side=Side.SELL, quantity=4), state)


def test_rate_throttle_allows_again_after_the_window_slides() -> None:
    state = AccountRisk("ACC1")
    limits = RiskLimits(max_orders_per_second=3)
    for i in range(3):
        on_approved(state, make_intent(), FIXED_NS + i, LAST)
    assert deny(state, limits, now=FIXED_NS + 10) is ReasonCode.RATE_LIMITED
    assert deny(state, limits, now=FIXED_NS + SEC + 1) is None


def test_rate_window_keeps_only_the_last_second_of_approvals() -> None:
    state = AccountRisk("ACC1")
    for i in range(10):
        on_approved(state, make_intent(), FIXED_NS + i * SEC // 2, LAST)
    assert len(state.order_times_ns) <= 2


def test_market_order_without_last_price_is_denied() -> None:
    assert deny(AccountRisk("ACC1"), last=None, order_type=OrderType.MARKET, price=None) is (
        ReasonCode.NO_REFERENCE_PRICE
    )


def test_limit_order_without_last_price_skips_fat_finger_and_uses_its_limit() -> None:
    assert deny(AccountRisk("ACC1"), last=None, price=Decimal("9999.00")) is None


@pytest.mark.parametrize(
    ("price", "denied"),
    [("2695.00", False), ("2695.05", True), ("2205.00", False), ("2204.95", True)],
)
def test_fat_finger_band_is_ten_percent_inclusive(price: str, denied: bool) -> None:
    result = deny(AccountRisk("ACC1"), price=Decimal(price))
    assert (result is ReasonCode.FAT_FINGER) is denied


def test_stop_market_order_is_banded_and_valued_at_its_trigger() -> None:
    result = deny(
        AccountRisk("ACC1"),
        order_type=OrderType.STOPLOSS_MARKET,
        price=None,
        trigger_price=Decimal("3000"),
    )
    assert result is ReasonCode.FAT_FINGER


def test_denies_order_when_notional_exceeds_limit() -> None:
    limits = RiskLimits(max_order_notional=Decimal("24499.99"))
    assert deny(AccountRisk("ACC1"), limits) is ReasonCode.MAX_NOTIONAL


def test_approves_order_with_notional_exactly_at_limit() -> None:
    assert deny(AccountRisk("ACC1"), RiskLimits(max_order_notional=Decimal("24500"))) is None


def test_market_order_notional_uses_last_price() -> None:
    limits = RiskLimits(max_order_notional=Decimal("24000"))
    assert deny(AccountRisk("ACC1"), limits, order_type=OrderType.MARKET, price=None) is (
        ReasonCode.MAX_NOTIONAL
    )


def test_position_limit_counts_open_orders_on_the_same_side() -> None:
    state = long_position(60)
    on_approved(state, make_intent(quantity=30), FIXED_NS, LAST)
    limits = RiskLimits(max_position_qty=100)
    assert deny(state, limits, quantity=10) is None
    assert deny(state, limits, quantity=11) is ReasonCode.MAX_POSITION


def test_position_limit_applies_to_short_side() -> None:
    limits = RiskLimits(max_position_qty=100)
    assert deny(AccountRisk("ACC1"), limits, side=Side.SELL, quantity=101) is (
        ReasonCode.MAX_POSITION
    )


def test_reducing_order_passes_even_when_position_is_over_a_lowered_limit() -> None:
    state = long_position(500)
    limits = RiskLimits(max_position_qty=100, max_gross_exposure=Decimal(1))
    assert deny(state, limits, side=Side.SELL, quantity=200) is None


def test_gross_exposure_counts_positions_and_open_orders() -> None:
    state = long_position(10)  # 24,500 marked
    on_approved(state, make_intent(quantity=10), FIXED_NS, LAST)  # 24,500 open
    limits = RiskLimits(max_gross_exposure=Decimal("73500"))
    assert deny(state, limits, quantity=10) is None
    assert deny(state, limits, quantity=11) is ReasonCode.MAX_GROSS_EXPOSURE


def test_max_open_orders_counts_approved_orders_until_closed() -> None:
    state = AccountRisk("ACC1")
    limits = RiskLimits(max_open_orders=1)
    first = make_intent()
    on_approved(state, first, FIXED_NS - 5 * SEC, LAST)
    assert deny(state, limits) is ReasonCode.MAX_OPEN_ORDERS
    on_order_closed(state, first.intent_id)
    assert deny(state, limits) is None
    assert state.open_notional == 0


def test_daily_loss_limit_trips_on_net_realised_loss_including_fees() -> None:
    state = AccountRisk("ACC1")
    on_fill(state, make_fill(side=Side.BUY, quantity=10, price=Decimal("100")))
    on_fill(state, make_fill(side=Side.SELL, quantity=10, price=Decimal("95"), fee=Decimal("1")))
    assert state.realised_today == Decimal("-51")
    assert deny(state, RiskLimits(max_daily_loss=Decimal("51"))) is ReasonCode.DAILY_LOSS_LIMIT
    assert deny(state, RiskLimits(max_daily_loss=Decimal("52"))) is None


def test_daily_loss_resets_on_the_next_ist_day() -> None:
    state = AccountRisk("ACC1")
    on_fill(state, make_fill(side=Side.BUY, quantity=10, price=Decimal("100")))
    on_fill(state, make_fill(side=Side.SELL, quantity=10, price=Decimal("90")))
    limits = RiskLimits(max_daily_loss=Decimal("50"))
    assert deny(state, limits) is ReasonCode.DAILY_LOSS_LIMIT
    assert deny(state, limits, now=FIXED_NS + 86_400 * SEC) is None


def test_trading_day_is_the_ist_calendar_day() -> None:
    midnight_ist_utc_ns = (1_795_219_200 - 19_800) * SEC  # 2026-11-21 00:00 IST
    assert trading_day(midnight_ist_utc_ns) == trading_day(midnight_ist_utc_ns - 1) + 1


def test_checks_run_in_the_documented_order() -> None:
    state = AccountRisk("ACC1", trading_state=TradingState.HALTED)
    limits = RiskLimits(max_order_notional=Decimal(1), max_open_orders=0)
    assert deny(state, limits, price=Decimal("9000")) is RISK_CHECK_ORDER[0]


def test_fill_releases_the_open_order_and_moves_exposure_to_the_position() -> None:
    state = AccountRisk("ACC1")
    intent = make_intent(quantity=10)
    on_approved(state, intent, FIXED_NS, LAST)
    on_fill(state, make_fill(intent_id=intent.intent_id, quantity=4, price=LAST))
    assert state.open_orders[intent.intent_id].quantity == 6
    assert state.instruments[KEY].open_buy == 6
    assert state.gross_exposure == LAST * 10
    on_fill(state, make_fill(intent_id=intent.intent_id, quantity=6, price=LAST))
    assert intent.intent_id not in state.open_orders
    assert state.open_notional == 0


def test_same_fill_applied_twice_changes_nothing() -> None:
    state = AccountRisk("ACC1")
    fill = make_fill()
    on_fill(state, fill)
    before = state.to_dict()
    on_fill(state, fill)
    assert state.to_dict() == before


def test_same_approval_applied_twice_changes_nothing() -> None:
    state = AccountRisk("ACC1")
    intent = make_intent()
    on_approved(state, intent, FIXED_NS, LAST)
    before = state.to_dict()
    on_approved(state, intent, FIXED_NS, LAST)
    assert state.to_dict() == before


def test_mark_revalues_position_exposure() -> None:
    state = long_position(10, "100")
    on_mark(state, "NSE", "2885", Decimal("110"))
    assert state.position_exposure == Decimal("1100")


def test_kill_switch_command_sets_trading_state() -> None:
    state = AccountRisk(GLOBAL_ACCOUNT)
    assert apply_control(state, make_command(account_id=GLOBAL_ACCOUNT), RiskLimits()) is None
    assert state.trading_state is TradingState.HALTED


def test_set_limits_overrides_defaults_for_that_account_only() -> None:
    state = AccountRisk("ACC1")
    defaults = RiskLimits()
    cmd = make_command(command=CommandKind.SET_LIMITS, limits={"max_open_orders": "3"})
    assert apply_control(state, cmd, defaults) is None
    assert limits_for(state, defaults).max_open_orders == 3
    assert limits_for(AccountRisk("ACC2"), defaults) is defaults


def test_set_limits_with_empty_value_removes_the_override() -> None:
    state = AccountRisk("ACC1", limit_overrides={"max_open_orders": "3"})
    cmd = make_command(command=CommandKind.SET_LIMITS, limits={"max_open_orders": ""})
    assert apply_control(state, cmd, RiskLimits()) is None
    assert limits_for(state, RiskLimits()).max_open_orders == 200


@pytest.mark.parametrize(
    "limits",
    [
        {"no_such_limit": "1"},
        {"max_daily_loss": "-5"},
        {"max_open_orders": "1.5"},
        {"fat_finger_pct": "NaN"},
    ],
)
def test_set_limits_refuses_bad_overrides_and_keeps_the_old_ones(limits: dict[str, str]) -> None:
    state = AccountRisk("ACC1")
    cmd = make_command(command=CommandKind.SET_LIMITS, limits=limits)
    assert apply_control(state, cmd, RiskLimits()) is ReasonCode.INVALID_LIMITS
    assert state.limit_overrides == {}


def test_cancel_order_command_is_not_a_risk_command() -> None:
    cmd = make_command(command=CommandKind.CANCEL_ORDER, intent_id="i1")
    assert apply_control(AccountRisk("ACC1"), cmd, RiskLimits()) is None


def test_unknown_command_is_refused() -> None:
    cmd = make_command(command=CommandKind.UNKNOWN)
    assert apply_control(AccountRisk("ACC1"), cmd, RiskLimits()) is ReasonCode.INVALID_COMMAND


def test_state_round_trips_through_a_json_dict() -> None:
    import json

    state = long_position(10)
    on_approved(state, make_intent(side=Side.SELL, quantity=3), FIXED_NS, LAST)
    state.limit_overrides = {"max_open_orders": "9"}
    state.trading_state = TradingState.REDUCING
    data = json.loads(json.dumps(state.to_dict()))
    assert AccountRisk.from_dict(data).to_dict() == state.to_dict()


def test_zero_daily_loss_limit_still_allows_trading_while_flat_on_the_day() -> None:
    state = AccountRisk("ACC1")
    on_fill(state, make_fill(side=Side.BUY, quantity=10, price=Decimal("100")))
    assert deny(state, RiskLimits(max_daily_loss=Decimal(0))) is None
