"""Vectorised daily penalty for the nightly job over the whole book (numpy, int64 cents).

Same rule as `penalty.daily_penalty`, in exact integer arithmetic: with the base in cents, the
annual rate in millionths (`rate_to_ppm`) and the multiplier as an exact fraction num/den,

    penalty_cents = round_half_up(base_cents × rate_ppm × num / (10^6 × den × day_basis))

computed as floor((2·n + d) / (2·d)) on non-negative integers. The Decimal path rounds the same
exact quotient once (its 28 digits cannot land on the wrong side of a half-cent for these
denominators), so both give the same cents; the tests check it on random inputs.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt

from servicing.money import money, rate, to_cents
from servicing.penalty import DEFAULT_PENALTY, PenaltyPolicy

RATE_SCALE = 1_000_000  # rates as integer millionths: 0.08 → 80_000
_INT64_MAX = np.iinfo(np.int64).max

IntArray = npt.NDArray[np.int64]


def to_int_cents(amount: Decimal) -> int:
    return int(money(amount) * 100)


def from_int_cents(cents: int) -> Decimal:
    return to_cents(Decimal(int(cents)) / 100)


def decimals_from_cents(cents: npt.ArrayLike) -> list[Decimal]:
    """Whole-cent amounts as `Decimal` (exact: no rounding happens here)."""
    return [Decimal(int(c)).scaleb(-2) for c in np.asarray(cents, dtype=np.int64)]


def ppm_of_cents(cents: npt.ArrayLike, ppm: npt.ArrayLike) -> IntArray:
    """round_half_up(cents × ppm / 10^6) on non-negative integers: an amount times a fraction
    given in millionths (a PD of 0.012345 → 12_345), the same cents as
    `to_cents(Decimal(cents) / 100 * Decimal(ppm) / 10^6)` without a Decimal per row."""
    amount = np.asarray(cents, dtype=np.int64)
    share = np.asarray(ppm, dtype=np.int64)
    if (amount.size and int(amount.min()) < 0) or (share.size and int(share.min()) < 0):
        raise ValueError("amounts and shares must not be negative")
    largest = int(amount.max()) * int(share.max()) if amount.size and share.size else 0
    if largest > _INT64_MAX - RATE_SCALE:
        raise OverflowError("cents × ppm too large for int64; split the batch")
    return (amount * share + RATE_SCALE // 2) // RATE_SCALE


def rate_to_ppm(annual_rate: Decimal) -> int:
    """An annual rate in millionths; refuses rates that need more than 6 decimals."""
    scaled = rate(annual_rate) * RATE_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"rate {annual_rate} has more than 6 decimals")
    return int(scaled)


def penalty_base_cents(
    unpaid_principal_cents: npt.ArrayLike,
    unpaid_interest_cents: npt.ArrayLike,
    policy: PenaltyPolicy = DEFAULT_PENALTY,
) -> IntArray:
    principal = np.asarray(unpaid_principal_cents, dtype=np.int64)
    if not policy.include_interest:
        return principal.copy()
    return principal + np.asarray(unpaid_interest_cents, dtype=np.int64)


def daily_penalty_cents(
    base_cents: npt.ArrayLike,
    rate_ppm: npt.ArrayLike,
    policy: PenaltyPolicy = DEFAULT_PENALTY,
) -> IntArray:
    """One day's penalty, in cents, for each (base, rate) pair; rates broadcast."""
    base = np.asarray(base_cents, dtype=np.int64)
    rates = np.asarray(rate_ppm, dtype=np.int64)
    if (base.size and int(base.min()) < 0) or (rates.size and int(rates.min()) < 0):
        raise ValueError("bases and rates must not be negative")
    num, den = policy.multiplier.as_integer_ratio()
    if base.size and rates.size:
        largest = 2 * int(base.max()) * int(rates.max()) * num + RATE_SCALE * den * policy.day_basis
        if largest > _INT64_MAX:
            raise OverflowError("base × rate too large for int64 cents; split the batch")
    denominator = 2 * RATE_SCALE * den * policy.day_basis
    return (2 * base * rates * num + denominator // 2) // denominator


def penalty_days_due(days_late: npt.ArrayLike, policy: PenaltyPolicy = DEFAULT_PENALTY) -> IntArray:
    """Days to charge tonight for installments `days_late` days after their due date, for a job
    that runs every night: none inside grace, the whole grace window plus tonight on the first
    night after it (the catch-up), one day after that."""
    late = np.asarray(days_late, dtype=np.int64)
    grace = policy.grace_days
    return np.where(late <= grace, 0, np.where(late == grace + 1, grace + 1, 1)).astype(np.int64)
