"""Money and rate values: the one rounding rule of servicing.

Rule: every money amount is a `decimal.Decimal` quantised to the cent (0.01 CNY) with
ROUND_HALF_UP, and `to_cents()` is the only place that rounds. Intermediate products (balance ×
rate, annual rate / 12, …) stay unrounded `Decimal`s (28 significant digits) and are rounded once,
when they become an amount someone owes or pays. Floats are refused: 0.1 has no exact binary
form, and a cent lost per loan per night is real money at a million loans.

Rates are annual `Decimal` fractions (0.08 = 8 % a year).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

DecimalLike = Decimal | int | str


def _decimal(value: DecimalLike, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{what} must be Decimal, int or str, not {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    return result


def to_cents(value: DecimalLike) -> Decimal:
    """Round to the cent, half up (0.005 → 0.01, -0.005 → -0.01): the servicing rounding rule."""
    return _decimal(value, "amount").quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: DecimalLike, what: str = "amount") -> Decimal:
    """An input amount that must already be whole cents and not negative (nothing is rounded
    silently on the way in: a caller sending 100.005 has a bug worth seeing)."""
    result = _decimal(value, what)
    if result != to_cents(result):
        raise ValueError(f"{what} must be whole cents, got {value!r}")
    if result < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return to_cents(result)


def rate(value: DecimalLike, what: str = "annual_rate") -> Decimal:
    """An annual rate as a non-negative Decimal fraction (kept exact, never rounded)."""
    result = _decimal(value, what)
    if result < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return result
