"""The contract's string and number rules for what producers write: one place for all doors.

``POST /v1/orders`` (``connectors.ingress``), ``tradepipe send`` and JSON files
(``streams.intents``), the Kafka client (``connectors.producer``) and the validation agent
(``agents.validate``, for records that reach the topic some other way) all apply these, so an
intent one of them refuses none of them passes on. ``docs/order-pipeline.md`` ("The intent
contract") states them for producers.

* Identifiers, tokens, symbols, tags, sources and trace ids match explicit ASCII patterns,
  each with a length bound.
* Free text (a kill-switch reason) is any printable text up to its bound: control and format
  characters (Unicode categories Cc and Cf: NUL, the bidi embeddings, overrides and isolates
  U+202A-U+202E and U+2066-U+2069, zero-width characters), surrogates, private-use and
  unassigned code points and the line and paragraph separators are refused.
* Prices are ASCII decimals, ``^[0-9]{1,14}(\\.[0-9]{1,4})?$`` (the Avro ``decimal(18, 4)``):
  no sign, exponent, digit grouping, spaces, non-ASCII digits, NaN or Infinity; quantities
  are ASCII integers from 1 to ``MAX_QUANTITY``.

Pure functions, no I/O: ``text_problem``, ``pattern_problem``, ``parse_price``,
``parse_quantity`` and ``intent_problem`` (a whole ``OrderIntent`` record).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Final

from schemas.records import OrderIntent

__all__ = [
    "IDENT",
    "ContractViolation",
    "MAX_FREE_TEXT",
    "MAX_PRICE_DIGITS",
    "PRICE_SCALE",
    "MAX_QUANTITY",
    "PRICE_SCHEMA_PATTERN",
    "SOURCE",
    "SYMBOL",
    "TAG",
    "TOKEN",
    "TRACE_ID",
    "intent_problem",
    "parse_price",
    "parse_quantity",
    "pattern_problem",
    "price_form_problem",
    "price_text",
    "text_problem",
]

IDENT: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
"""intent_id, account_id, client_order_id: 1 to 64 characters, starting with a letter or digit."""
TOKEN: Final = r"^[0-9A-Za-z_-]{1,32}$"  # noqa: S105 — a pattern, not a secret
"""instrument_token (Angel One tokens are digits)."""
SYMBOL: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9 &_.-]{0,62}[A-Za-z0-9&_.-])?$"
"""symbol, as in the instrument master (``RELIANCE-EQ``, ``M&M-EQ``, ``Nifty 50``): 1 to 64
characters, inner spaces only."""
TAG: Final = r"^[A-Za-z0-9_.:-]{1,32}$"
"""tag (Angel One's ``ordertag`` is at most 20 characters; the venue truncates)."""
SOURCE: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
"""source: who produced the intent (``api``, ``cli``, a strategy name)."""
TRACE_ID: Final = r"^[A-Za-z0-9_.:-]{1,64}$"
"""trace_id, as the ingress accepts it in ``X-Trace-Id``."""
PRICE_SCHEMA_PATTERN: Final = (
    r"^([1-9][0-9]{0,13}(\.[0-9]{1,4})?"
    r"|0\.([1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9]))$"
)
"""The prices the JSON Schema states: the ASCII decimals above zero, without leading zeros."""
MAX_FREE_TEXT: Final = 256
MAX_PRICE_DIGITS: Final = 18
PRICE_SCALE: Final = 4
"""Prices are Avro ``decimal(18, 4)``: 14 integer digits, 4 decimal places."""
MAX_QUANTITY: Final = 10_000_000
_PRICE_TEXT = re.compile(r"^[0-9]{1,14}(\.[0-9]{1,4})?$")
_INT_TEXT = re.compile(r"^[0-9]{1,18}$")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_PATTERNS = {
    name: re.compile(pattern)
    for name, pattern in (
        ("IDENT", IDENT),
        ("TOKEN", TOKEN),
        ("SYMBOL", SYMBOL),
        ("TAG", TAG),
        ("SOURCE", SOURCE),
        ("TRACE_ID", TRACE_ID),
    )
}
# The producer-set string fields of an intent, their rule and whether they may be absent.
_INTENT_STRINGS = (
    ("intent_id", "IDENT", False),
    ("account_id", "IDENT", False),
    ("client_order_id", "IDENT", False),
    ("instrument_token", "TOKEN", False),
    ("symbol", "SYMBOL", True),
    ("tag", "TAG", True),
    ("source", "SOURCE", False),
    ("trace_id", "TRACE_ID", False),
)


class ContractViolation(ValueError):
    """A value the contract refuses; ``kind`` names the rule (pydantic's error types where one
    fits: ``int_type``, ``greater_than_equal``, ``decimal_max_places``, ``finite_number``...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_NOT_FINITE = frozenset({"nan", "snan", "inf", "infinity"})
_DIGITS = re.compile(r"[0-9]+(\.[0-9]+)?")


def _price_kind(text: str) -> str:
    """Which rule a price text that fails the pattern breaks."""
    if text.strip().lstrip("+-").lower() in _NOT_FINITE:
        return "finite_number"
    if text.isascii() and _DIGITS.fullmatch(text):
        frac = text.partition(".")[2]
        return "decimal_max_places" if len(frac) > 4 else "decimal_whole_digits"
    return "decimal_parsing"


def text_problem(value: str, max_length: int = MAX_FREE_TEXT) -> str | None:
    """Why ``value`` is not acceptable free text, or None."""
    if not value:
        return "must not be empty"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    for char in value:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"must not contain control or format characters (U+{ord(char):04X})"
    return None


def pattern_problem(value: str, rule: str) -> str | None:
    """Why ``value`` does not match the named pattern (``IDENT``, ``SYMBOL``...), or None."""
    problem = text_problem(value, 64)
    if problem is not None:
        return problem
    if not _PATTERNS[rule].fullmatch(value):
        return f"must match {_PATTERNS[rule].pattern}"
    return None


_FORM = re.compile(r"[0-9]+(\.[0-9]+)?")


def price_text(value: object) -> str:
    """The text a price was written as: a string as is, a JSON number by its shortest form
    (so ``2450.05`` is exact and ``1e-05`` shows its exponent). ``ContractViolation`` for
    anything else (a boolean, a list...)."""
    if isinstance(value, bool):
        raise ContractViolation("decimal_type", "must be a decimal string or number")
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    raise ContractViolation("decimal_type", "must be a decimal string or number")


def price_form_problem(text: str) -> str | None:
    """Why ``text`` is not written as an ASCII decimal (digits, one optional point), or None.

    The form only: the range (positive, 14 integer and 4 decimal digits) is checked on the
    number. NaN and Infinity pass the form and are refused as not finite."""
    if text.strip().lstrip("+-").lower() in _NOT_FINITE:
        return None
    if not text.isascii() or not _FORM.fullmatch(text):
        return (
            "must be an ASCII decimal such as 2450.05: digits and one point, no sign, exponent, "
            "spaces, separators or other digits"
        )
    return None


def parse_price(value: object) -> Decimal:
    """A price from JSON or the CLI: an ASCII decimal string, or a JSON number, positive,
    with at most 14 integer and 4 decimal digits; ``ContractViolation`` names what is wrong."""
    text = price_text(value)
    problem = price_form_problem(text)
    if problem is not None:
        raise ContractViolation("decimal_parsing", problem)
    if not _PRICE_TEXT.fullmatch(text):
        raise ContractViolation(
            _price_kind(text), "must be finite, with at most 14 integer and 4 decimal digits"
        )
    try:
        price = Decimal(text)
    except InvalidOperation as exc:  # unreachable after the pattern; kept as a guard
        raise ContractViolation("decimal_parsing", "must be a decimal number") from exc
    if price <= 0:
        raise ContractViolation("greater_than", "must be greater than zero")
    return price


def parse_quantity(value: object) -> int:
    """A quantity: an int (not a boolean), or an ASCII digit string from the CLI."""
    if isinstance(value, bool):
        raise ContractViolation("int_type", "must be an integer, not a boolean")
    if isinstance(value, str):
        if not value.isascii() or not _INT_TEXT.fullmatch(value):
            raise ContractViolation("int_parsing", "must be ASCII digits, such as 25")
        value = int(value)
    if not isinstance(value, int):
        raise ContractViolation("int_type", "must be an integer")
    if value < 1:
        raise ContractViolation("greater_than_equal", f"must be from 1 to {MAX_QUANTITY:,}")
    if value > MAX_QUANTITY:
        raise ContractViolation("less_than_equal", f"must be from 1 to {MAX_QUANTITY:,}")
    return value


def intent_problem(intent: OrderIntent) -> tuple[str, str] | None:
    """``(field, why)`` for the first producer-set field of ``intent`` that breaks the
    contract, or None.

    For records that did not come through the input model (produced raw with Avro). Decision
    rules with their own reason codes stay with the validation agent: a quantity or price of
    zero or less, prices that do not fit the order type or the tick. Prices need no check
    here: Avro's ``decimal(18, 4)`` cannot carry anything else.
    """
    for name, rule, optional in _INTENT_STRINGS:
        value = getattr(intent, name)
        if (value is None and optional) or (name == "trace_id" and value == ""):
            continue  # no trace id: the consumer starts a trace
        if not isinstance(value, str):
            return name, "must be a string"
        problem = pattern_problem(value, rule)
        if problem is not None:
            return name, problem
    if intent.quantity > MAX_QUANTITY:
        return "quantity", f"must be at most {MAX_QUANTITY:,}"
    return None
