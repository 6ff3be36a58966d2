"""罚息 penalty interest: daily accrual on what is overdue.

Policy:
- a day's penalty = to_cents(base × annual rate × multiplier / day basis) with the contract's
  annual rate, multiplier 1.5 and a 360-day basis by default; it is rounded per installment
  per day, and it never compounds on earlier penalty;
- base = unpaid principal of the installment, plus its unpaid interest when
  `include_interest` (the default);
- penalty days are due_date + 1, due_date + 2, … The installment is overdue from the day after
  its due date; a payment on day d is made *after* day d accrued on the amount unpaid at the
  start of that day (so paying on the due date costs nothing and paying one day late costs one
  day);
- grace: while as_of ≤ due_date + grace_days nothing is owed yet. If the installment is paid
  within grace, no penalty ever. Once grace has expired unpaid, penalty counts from
  due_date + 1 (the grace days are caught up) on the amount then still unpaid: a partial
  payment inside grace lowers the base of every grace day;
- each accrual is keyed by (loan_id, installment_no, accrual_date); callers store it under a
  unique key, so a day is never charged twice.

`accrue` is the only place a penalty is computed: the nightly job and the payment flow (which
accrues up to the payment date before allocating) both go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from servicing.money import ZERO, to_cents

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PenaltyPolicy:
    multiplier: Decimal = Decimal("1.5")
    grace_days: int = 0
    include_interest: bool = True
    day_basis: int = 360

    def __post_init__(self) -> None:
        if not isinstance(self.multiplier, Decimal) or self.multiplier < 0:
            raise ValueError("multiplier must be a non-negative Decimal")
        if self.grace_days < 0:
            raise ValueError("grace_days must not be negative")
        if self.day_basis <= 0:
            raise ValueError("day_basis must be positive")

    def daily_rate(self, annual_rate: Decimal) -> Decimal:
        """Unrounded penalty rate per day (for display; amounts use `daily_penalty`)."""
        return annual_rate * self.multiplier / self.day_basis

    def grace_expired(self, due_date: date, as_of: date) -> bool:
        return (as_of - due_date).days > self.grace_days


DEFAULT_PENALTY = PenaltyPolicy()


class AccrualKey(NamedTuple):
    loan_id: str
    installment_no: int
    accrual_date: date


@dataclass(frozen=True, slots=True)
class OverdueInstallment:
    """What a penalty accrues on: one installment's unpaid amounts at the start of a day."""

    loan_id: str
    installment_no: int
    due_date: date
    unpaid_principal: Decimal
    unpaid_interest: Decimal
    annual_rate: Decimal

    def base(self, policy: PenaltyPolicy) -> Decimal:
        return self.unpaid_principal + (self.unpaid_interest if policy.include_interest else ZERO)


@dataclass(frozen=True, slots=True)
class Accrual:
    loan_id: str
    installment_no: int
    accrual_date: date
    base: Decimal
    amount: Decimal

    @property
    def key(self) -> AccrualKey:
        return AccrualKey(self.loan_id, self.installment_no, self.accrual_date)


def daily_penalty(base: Decimal, annual_rate: Decimal, policy: PenaltyPolicy) -> Decimal:
    """One day's penalty on `base` (one multiplication chain, one division, one rounding)."""
    return to_cents(base * annual_rate * policy.multiplier / policy.day_basis)


def accrue(
    item: OverdueInstallment,
    accrual_date: date,
    policy: PenaltyPolicy = DEFAULT_PENALTY,
    *,
    as_of: date | None = None,
) -> Accrual | None:
    """The penalty for one installment and one day, or None when nothing is owed.

    `as_of` is the day the computation runs for (default: `accrual_date`); it only matters for
    grace: a day inside the grace window is owed once as_of is past the window. None also for
    days not after the due date, days after `as_of`, a zero base or a zero (rounded) amount.
    """
    run_date = accrual_date if as_of is None else as_of
    if accrual_date <= item.due_date or accrual_date > run_date:
        return None
    if not policy.grace_expired(item.due_date, run_date):
        return None
    base = item.base(policy)
    if base <= 0:
        return None
    amount = daily_penalty(base, item.annual_rate, policy)
    if amount == 0:
        return None
    return Accrual(item.loan_id, item.installment_no, accrual_date, base, amount)


def accruals_between(
    item: OverdueInstallment,
    start: date,
    end: date,
    policy: PenaltyPolicy = DEFAULT_PENALTY,
) -> list[Accrual]:
    """Catch-up: the accruals owed for each day start..end (inclusive) as seen on `end`,
    one `accrue` call per day, for an installment whose unpaid amounts did not change."""
    result = []
    day = max(start, item.due_date + ONE_DAY)
    while day <= end:
        accrual = accrue(item, day, policy, as_of=end)
        if accrual is not None:
            result.append(accrual)
        day += ONE_DAY
    return result


def only_new(accruals: list[Accrual], seen: set[AccrualKey]) -> list[Accrual]:
    """Drop accruals whose key is already stored (the in-memory twin of a unique index)."""
    return [a for a in accruals if a.key not in seen]
