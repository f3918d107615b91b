"""Prices on an instrument's tick: the one rounding rule every price maker uses.

The demo feed, the tick simulator and the paper exchange's slippage all produce prices that
validation then checks with ``price % tick == 0``; rounding in one place keeps them on the
same grid (a ``Decimal.quantize`` to the tick's exponent only keeps its decimals, so
2900.07 stays off a 0.05 tick).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

__all__ = ["round_to_tick"]


def round_to_tick(price: Decimal, tick: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """``price`` as a whole multiple of ``tick`` (nearest by default; ``ROUND_CEILING`` etc.).

    Nearest rounding lands within half a tick of ``price``; a directed rounding within one.
    """
    if tick <= 0:
        raise ValueError(f"tick size must be positive, not {tick}")
    steps = (price / tick).to_integral_value(rounding)
    return steps * tick
