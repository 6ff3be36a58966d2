"""Schedules: golden figures, an independent recomputation, due dates, rounding remainder."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from servicing.money import to_cents
from servicing.schedule import (
    Method,
    add_months,
    annuity_payment,
    build_schedule,
    due_dates,
    equal_installment,
    equal_principal,
    offer_summary,
)

D = Decimal
LOAN = D("100000.00")
RATE = D("0.08")


def _half_up_cents(x: Fraction) -> int:
    """Independent rounding: Fraction CNY → int cents, half up (x ≥ 0)."""
    return int((x * 100 + Fraction(1, 2)) // 1)


def _reference_equal_installment(principal_cents: int, rate: Fraction, n: int) -> list[tuple]:
    """The bank 等额本息 convention in exact rationals and integer cents (no Decimal at all)."""
    r = rate / 12
    p = Fraction(principal_cents, 100)
    payment = _half_up_cents(p / n if r == 0 else p * r * (1 + r) ** n / ((1 + r) ** n - 1))
    rows, balance = [], principal_cents
    for k in range(1, n + 1):
        interest = _half_up_cents(Fraction(balance, 100) * r)
        principal = balance if k == n else payment - interest
        balance -= principal
        rows.append((principal, interest, principal + interest, balance))
    return rows


def cents(x: Decimal) -> int:
    return int(x * 100)


def test_equal_installment_golden_100k_8pct_36m():
    s = equal_installment(LOAN, RATE, 36, date(2027, 1, 15))
    assert annuity_payment(LOAN, RATE, 36) == D("3133.64")
    assert [i.amount for i in s.installments[:35]] == [D("3133.64")] * 35
    assert s.total_interest == D("12810.92")
    first, last = s.installments[0], s.installments[-1]
    assert (first.interest, first.principal, first.remaining_principal) == (
        D("666.67"),
        D("2466.97"),
        D("97533.03"),
    )
    # The last installment absorbs the rounding: 12 cents less than the others.
    assert (last.principal, last.interest, last.amount) == (D("3112.77"), D("20.75"), D("3133.52"))
    assert last.remaining_principal == 0


def test_equal_installment_full_table_matches_independent_reference():
    s = equal_installment(LOAN, RATE, 36, date(2027, 1, 15))
    reference = _reference_equal_installment(10_000_000, Fraction(8, 100), 36)
    got = [
        (cents(i.principal), cents(i.interest), cents(i.amount), cents(i.remaining_principal))
        for i in s.installments
    ]
    assert got == reference
    assert [i.number for i in s.installments] == list(range(1, 37))
    assert sum(i.principal for i in s.installments) == LOAN
    assert sum(i.interest for i in s.installments) == D("12810.92")
    assert sum(i.amount for i in s.installments) == D("112810.92") == s.total_amount


def test_equal_principal_golden_100k_8pct_36m():
    s = equal_principal(LOAN, RATE, 36, date(2027, 1, 15))
    assert s.installments[0].amount == D("3444.44")
    assert s.installments[-1].amount == D("2796.30")
    assert s.total_interest == D("12333.33")  # exact: 100000 × 0.08/12 × 37/2 = 12333.33…
    assert sum(i.principal for i in s.installments) == LOAN
    assert {i.principal for i in s.installments} <= {D("2777.77"), D("2777.78")}
    amounts = [i.amount for i in s.installments]
    assert amounts == sorted(amounts, reverse=True)
    for k, inst in enumerate(s.installments, start=1):
        exact = Fraction(100000, 36) + (100000 - Fraction(100000 * (k - 1), 36)) * Fraction(8, 1200)
        assert cents(inst.amount) == _half_up_cents(exact)  # the formula, rounded once
        assert inst.amount == inst.principal + inst.interest


def test_last_installment_absorbs_principal_remainder():
    s = equal_principal(D("100.00"), RATE, 3, date(2027, 1, 15))
    assert [i.principal for i in s.installments] == [D("33.33"), D("33.34"), D("33.33")]
    s = equal_principal(D("0.05"), D("0"), 3, date(2027, 1, 15))
    assert [i.principal for i in s.installments] == [D("0.02"), D("0.01"), D("0.02")]
    s = equal_installment(D("1000.00"), D("0"), 3, date(2027, 1, 15))
    assert [i.principal for i in s.installments] == [D("333.33"), D("333.33"), D("333.34")]
    assert s.total_interest == 0


def test_degenerate_loan_never_overpays():
    """1,000 CNY over 302 months: the payment (12.21, rounded up) repays the principal early;
    principal is capped at the balance and the remaining installments are 0.00, never < 0."""
    s = equal_installment(D("1000.00"), D("0.1423"), 302, date(2027, 1, 1))
    assert sum(i.principal for i in s.installments) == D("1000.00")
    assert all(i.remaining_principal >= 0 and i.principal >= 0 for i in s.installments)
    assert s.installments[300].amount == D("11.20") and s.installments[301].amount == 0


@pytest.mark.parametrize(
    ("disbursed", "expected"),
    [
        (date(2028, 1, 31), [date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)]),
        (date(2027, 1, 31), [date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]),
        (date(2027, 1, 30), [date(2027, 2, 28), date(2027, 3, 30), date(2027, 4, 30)]),
        (date(2028, 2, 29), [date(2028, 3, 29), date(2028, 4, 29), date(2028, 5, 29)]),
        (date(2027, 11, 15), [date(2027, 12, 15), date(2028, 1, 15), date(2028, 2, 15)]),
    ],
)
def test_month_end_due_dates(disbursed, expected):
    assert due_dates(disbursed, 3) == expected
    s = equal_installment(D("9000.00"), RATE, 3, disbursed)
    assert [i.due_date for i in s.installments] == expected


def test_due_dates_never_drift_after_short_months():
    dates = due_dates(date(2027, 1, 31), 36)
    import calendar

    for d in dates:
        assert d.day == calendar.monthrange(d.year, d.month)[1]  # always the month's last day
    assert dates[-1] == date(2030, 1, 31)
    assert add_months(date(2027, 12, 31), 2) == date(2028, 2, 29)


def test_offer_summary_uses_the_servicing_schedule():
    q = offer_summary(LOAN, RATE, 36)
    assert (q.monthly_installment, q.total_interest, q.total_cost_of_credit) == (
        D("3133.64"),
        D("12810.92"),
        D("12810.92"),
    )
    assert q.last_installment == D("3133.52")
    q = offer_summary(LOAN, RATE, 36, Method.EQUAL_PRINCIPAL, fees=D("500.00"))
    assert q.monthly_installment == D("3444.44")
    assert q.total_cost_of_credit == D("12833.33")
    assert q.total_repayable == D("112833.33")
    s = build_schedule("equal_principal", LOAN, RATE, 36, date(2031, 7, 31))
    assert (s.installments[0].amount, s.total_interest) == (q.monthly_installment, q.total_interest)


@pytest.mark.parametrize(
    ("principal", "rate", "term"),
    [
        (D("0"), RATE, 12),
        (D("100.001"), RATE, 12),
        (D("-5"), RATE, 12),
        (LOAN, D("-0.01"), 12),
        (LOAN, RATE, 0),
        (100000.0, RATE, 12),
    ],
)
def test_invalid_inputs_are_refused(principal, rate, term):
    with pytest.raises((ValueError, TypeError)):
        equal_installment(principal, rate, term, date(2027, 1, 1))


principals = st.integers(min_value=100, max_value=1_000_000_000).map(lambda c: D(c) / 100)
rates = st.integers(min_value=0, max_value=3600).map(lambda bp: D(bp) / 10_000)
terms = st.integers(min_value=1, max_value=360)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31))


@settings(max_examples=150, deadline=None)
@given(principals, rates, terms, days, st.sampled_from(list(Method)))
def test_schedule_invariants(principal, rate, term, disbursed, method):
    s = build_schedule(method, principal, rate, term, disbursed)
    rows = s.installments
    assert len(rows) == term
    assert sum(i.principal for i in rows) == principal
    assert rows[-1].remaining_principal == 0
    balance = principal
    for i in rows:
        assert i.principal >= 0 and i.interest >= 0
        assert i.amount == i.principal + i.interest
        assert i.remaining_principal == balance - i.principal
        assert to_cents(i.amount) == i.amount
        balance = i.remaining_principal
    assert [i.due_date for i in rows] == due_dates(disbursed, term)
    if method is Method.EQUAL_PRINCIPAL:
        assert all(abs(i.principal - principal / term) < D("0.01") for i in rows)
    # a quote (computed without due dates) is the schedule that will be billed
    q = offer_summary(principal, rate, term, method)
    assert (q.monthly_installment, q.last_installment, q.total_interest) == (
        rows[0].amount, rows[-1].amount, s.total_interest)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=100_000, max_value=1_000_000_000), rates, terms)
def test_equal_installment_matches_reference_for_random_loans(principal_cents, rate, term):
    reference = _reference_equal_installment(principal_cents, Fraction(rate), term)
    # Tiny loans over long terms: the rounded-up payment can repay principal early, and the
    # naive reference goes negative; that case is `test_degenerate_loan_never_overpays`.
    assume(all(row[3] >= 0 for row in reference))
    s = equal_installment(D(principal_cents) / 100, rate, term, date(2027, 1, 1))
    assert [(cents(i.principal), cents(i.interest)) for i in s.installments] == [
        (p, i) for p, i, _, _ in reference
    ]
