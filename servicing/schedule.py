"""Repayment schedules: 等额本息 (equal installments) and 等额本金 (equal principal).

Conventions (the contract's, so quotes, servicing and customer statements agree):
- the monthly interest rate is the annual rate / 12, whatever the number of days in the month;
- installment k falls due k months after disbursement on the disbursement day of the month,
  clamped to the month's length (disbursed Jan 31 → due Feb 28/29, Mar 31, Apr 30 …); every
  due date is computed from the disbursement date, never from the previous due date, so a
  short February does not drag later dates to the 28th;
- amounts are rounded with `to_cents()` (cent, half up) and principal always sums exactly to
  the loan amount: the last installment absorbs the rounding remainder.

Equal installments: the payment is the annuity formula rounded once; each month's interest is
the rounded interest on the outstanding (cent) balance and principal is the rest; the last
installment repays whatever principal is left plus its interest (the bank convention; 100,000
at 8 % over 36 months → 3,133.64 a month, 12,810.92 interest in total).

Equal principal: the contract fixes principal P/n a month and the amount P/n + outstanding ×
rate/12. Cumulative principal after k months is rounded (so each principal is P/n to the cent
and the last takes the remainder), each amount is the formula rounded once, and interest is
amount − principal (never below zero). 100,000 at 8 % over 36 months → first 3,444.44, last
2,796.30, total interest 12,333.33: the exact figures, each rounded once.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from servicing.money import ZERO, DecimalLike, money, rate, to_cents

#: one installment's (principal, interest, amount, remaining principal after it)
_Amounts = tuple[Decimal, Decimal, Decimal, Decimal]


class Method(StrEnum):
    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金


@dataclass(frozen=True, slots=True)
class Installment:
    number: int  # 1-based
    due_date: date
    principal: Decimal
    interest: Decimal
    amount: Decimal  # principal + interest
    remaining_principal: Decimal  # after this installment is paid


@dataclass(frozen=True, slots=True)
class Schedule:
    method: Method
    principal: Decimal
    annual_rate: Decimal
    term_months: int
    disbursed_on: date
    installments: tuple[Installment, ...]

    @property
    def total_interest(self) -> Decimal:
        return sum((i.interest for i in self.installments), ZERO)

    @property
    def total_amount(self) -> Decimal:
        return sum((i.amount for i in self.installments), ZERO)


@dataclass(frozen=True, slots=True)
class OfferSummary:
    """What the decision service quotes for a plan: the same numbers servicing will bill."""

    method: Method
    principal: Decimal
    annual_rate: Decimal
    term_months: int
    monthly_installment: Decimal  # the first installment (equal principal: the largest)
    last_installment: Decimal
    total_interest: Decimal
    fees: Decimal
    total_cost_of_credit: Decimal  # interest + fees
    total_repayable: Decimal  # principal + interest + fees


def add_months(start: date, months: int) -> date:
    """`start` moved `months` calendar months on, the day clamped to the month's length."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def due_dates(disbursed_on: date, term_months: int) -> list[date]:
    return [add_months(disbursed_on, k) for k in range(1, term_months + 1)]


def monthly_interest(balance: Decimal, annual_rate: Decimal) -> Decimal:
    """One month's interest on `balance`: balance × annual rate / 12, rounded to the cent."""
    return to_cents(balance * annual_rate / 12)


def annuity_factor(monthly_rate, term_months):
    """r·(1+r)^n / ((1+r)^n − 1): the 等额本息 payment per unit of principal, r > 0.

    The one annuity formula: exact `Decimal` in, `Decimal` out (servicing's schedules), or
    numpy float arrays in, arrays out (the feature store's indicative installments)."""
    growth = (1 + monthly_rate) ** term_months
    return monthly_rate * growth / (growth - 1)


def annuity_payment(principal: DecimalLike, annual_rate: DecimalLike, term_months: int) -> Decimal:
    """The 等额本息 monthly payment P·r·(1+r)^n / ((1+r)^n − 1), r = annual/12, rounded once."""
    p, a, n = _validate(principal, annual_rate, term_months)
    if a == 0:
        return to_cents(p / n)
    return to_cents(p * annuity_factor(a / 12, n))


def _equal_installment_amounts(p: Decimal, a: Decimal, n: int) -> list[_Amounts]:
    payment = annuity_payment(p, a, n)
    rows = []
    balance = p
    for number in range(1, n + 1):
        interest = monthly_interest(balance, a)
        # Clamp only matters for degenerate loans (a few cents over many months).
        part = balance if number == n else min(max(payment - interest, ZERO), balance)
        balance -= part
        rows.append((part, interest, part + interest, balance))
    return rows


def _equal_principal_amounts(p: Decimal, a: Decimal, n: int) -> list[_Amounts]:
    rows = []
    repaid = ZERO
    for number in range(1, n + 1):
        part = to_cents(p * number / n) - repaid
        exact_amount = p / n + (p - p * (number - 1) / n) * a / 12
        interest = max(to_cents(exact_amount) - part, ZERO)
        repaid += part
        rows.append((part, interest, part + interest, p - repaid))
    return rows


def _amounts(
    method: Method | str, principal: DecimalLike, annual_rate: DecimalLike, term_months: int
) -> tuple[Method, Decimal, Decimal, list[_Amounts]]:
    """(method, principal, rate, each installment's (principal, interest, amount, remaining)):
    the one computation of a plan's amounts, shared by schedules (which add the due dates)
    and quotes (which show no dates, so compute none — amounts do not depend on them)."""
    m = Method(method)
    p, a, n = _validate(principal, annual_rate, term_months)
    rows = (_equal_installment_amounts if m is Method.EQUAL_INSTALLMENT
            else _equal_principal_amounts)(p, a, n)
    return m, p, a, rows


def build_schedule(
    method: Method | str,
    principal: DecimalLike,
    annual_rate: DecimalLike,
    term_months: int,
    disbursed_on: date,
) -> Schedule:
    """The schedule servicing bills: the plan's amounts (`_amounts`) with their due dates."""
    m, p, a, rows = _amounts(method, principal, annual_rate, term_months)
    dates = due_dates(disbursed_on, len(rows))
    return Schedule(m, p, a, len(rows), disbursed_on, tuple(
        Installment(number, due, *amounts)
        for number, (due, amounts) in enumerate(zip(dates, rows, strict=True), start=1)))


def equal_installment(
    principal: DecimalLike, annual_rate: DecimalLike, term_months: int, disbursed_on: date
) -> Schedule:
    """等额本息 schedule (see the module docstring for the rounding)."""
    return build_schedule(Method.EQUAL_INSTALLMENT, principal, annual_rate, term_months,
                          disbursed_on)


def equal_principal(
    principal: DecimalLike, annual_rate: DecimalLike, term_months: int, disbursed_on: date
) -> Schedule:
    """等额本金 schedule (see the module docstring for the rounding)."""
    return build_schedule(Method.EQUAL_PRINCIPAL, principal, annual_rate, term_months,
                          disbursed_on)


def offer_summary(
    principal: DecimalLike,
    annual_rate: DecimalLike,
    term_months: int,
    method: Method | str = Method.EQUAL_INSTALLMENT,
    *,
    fees: DecimalLike = ZERO,
) -> OfferSummary:
    """Quote a plan from the very amounts servicing would bill (no second formula; no due
    dates, which a quote does not show)."""
    m, p, a, rows = _amounts(method, principal, annual_rate, term_months)
    fee = money(fees, "fees")
    interest = sum((r[1] for r in rows), ZERO)
    return OfferSummary(
        method=m,
        principal=p,
        annual_rate=a,
        term_months=len(rows),
        monthly_installment=rows[0][2],
        last_installment=rows[-1][2],
        total_interest=interest,
        fees=fee,
        total_cost_of_credit=interest + fee,
        total_repayable=p + interest + fee,
    )


def _validate(
    principal: DecimalLike, annual_rate: DecimalLike, term_months: int
) -> tuple[Decimal, Decimal, int]:
    p = money(principal, "principal")
    if p <= 0:
        raise ValueError("principal must be positive")
    if isinstance(term_months, bool) or not isinstance(term_months, int) or term_months < 1:
        raise ValueError(f"term_months must be a positive int, got {term_months!r}")
    return p, rate(annual_rate), term_months
