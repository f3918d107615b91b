"""A simple configurable fee model shared by the paper exchange and position accounting.

It lives in ``connectors/`` because imports flow ``connectors`` <- ``agents``: the paper
exchange (a connector) computes fees on its fills, and ``agents.positions`` reuses the same
model for fills that arrive without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["PAISA", "QUANTUM", "FeeModel", "q4"]

PAISA = Decimal("0.01")
# Avro decimals in the contracts have scale 4: every price or amount we emit fits it.
QUANTUM = Decimal("0.0001")
_BPS = Decimal(10_000)
_ZERO = Decimal(0)


def q4(value: Decimal) -> Decimal:
    """``value`` rounded half-even to the contracts' scale (4 decimal places)."""
    return value.quantize(QUANTUM)


@dataclass(frozen=True, slots=True)
class FeeModel:
    """Fee per fill = max(``minimum``, ``bps`` of notional) (+ ``fixed_per_order`` on the
    first fill of an order), rounded half-up to the paisa.

    The minimum applies per fill, the fixed part once per order, so splitting an order into
    more fills never makes it cheaper than one fill of the same size.
    """

    bps: Decimal = Decimal("3")
    fixed_per_order: Decimal = Decimal("0")
    minimum: Decimal = Decimal("0")

    def fee(self, notional: Decimal, *, first_fill: bool) -> Decimal:
        """The fee for one fill of ``notional`` rupees."""
        variable = abs(notional) * self.bps / _BPS
        fee = max(variable, self.minimum)
        if first_fill:
            fee += self.fixed_per_order
        return fee.quantize(PAISA, rounding=ROUND_HALF_UP) if fee else _ZERO

    def to_dict(self) -> dict[str, str]:
        """JSON-able form."""
        return {
            "bps": str(self.bps),
            "fixed_per_order": str(self.fixed_per_order),
            "minimum": str(self.minimum),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeeModel:
        """Inverse of ``to_dict``."""
        return cls(**{k: Decimal(str(v)) for k, v in data.items()})

    @classmethod
    def free(cls) -> FeeModel:
        """No fees at all (tests, hand-computed scenarios)."""
        return cls(bps=_ZERO, fixed_per_order=_ZERO, minimum=_ZERO)
