"""Penalty interest: the daily rule, grace, keys, catch-up == single days."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicing.penalty import (
    OverdueInstallment,
    PenaltyPolicy,
    accruals_between,
    accrue,
    daily_penalty,
    only_new,
)

D = Decimal
DUE = date(2027, 3, 15)
DAY = timedelta(days=1)


def item(principal="2466.97", interest="666.67", rate="0.08", due=DUE) -> OverdueInstallment:
    return OverdueInstallment("L-1", 2, due, D(principal), D(interest), D(rate))


def test_daily_rate_is_annual_times_multiplier_over_360():
    assert PenaltyPolicy().daily_rate(D("0.08")) == D("0.08") * D("1.5") / 360
    # 3,133.64 × 0.08 × 1.5 / 360 = 1.04455 → 1.04
    assert daily_penalty(D("3133.64"), D("0.08"), PenaltyPolicy()) == D("1.04")
    assert daily_penalty(D("3133.64"), D("0.08"), PenaltyPolicy(multiplier=D("2"))) == D("1.39")


@pytest.mark.parametrize(
    ("base", "expected"),
    # base / 3000 at 8 % × 1.5 / 360: exact half cents round up (half-even would give 0.00, 0.02)
    [("15.00", "0.01"), ("75.00", "0.03"), ("14.99", "0.00"), ("3000.00", "1.00")],
)
def test_daily_penalty_rounds_half_up(base, expected):
    assert daily_penalty(D(base), D("0.08"), PenaltyPolicy()) == D(expected)


def test_day_by_day_without_grace():
    it = item()
    assert accrue(it, DUE) is None  # due today: not late
    assert accrue(it, DUE - DAY) is None
    first = accrue(it, DUE + DAY)
    assert first is not None
    assert first.key == ("L-1", 2, DUE + DAY)
    assert (first.base, first.amount) == (D("3133.64"), D("1.04"))
    days = [accrue(it, DUE + k * DAY) for k in range(1, 11)]
    assert [a.accrual_date for a in days] == [DUE + k * DAY for k in range(1, 11)]
    assert sum(a.amount for a in days) == D("10.40")
    assert accrue(it, DUE + 2 * DAY, as_of=DUE + DAY) is None  # never accrue the future


def test_interest_excluded_from_base_when_configured():
    policy = PenaltyPolicy(include_interest=False)
    a = accrue(item(), DUE + DAY, policy)
    assert (a.base, a.amount) == (D("2466.97"), D("0.82"))  # 2466.97 / 3000 = 0.8223


def test_grace_defers_then_counts_from_the_day_after_due():
    policy = PenaltyPolicy(grace_days=3)
    it = item()
    for k in (1, 2, 3):  # inside grace, seen on the day itself: nothing owed (yet)
        assert accrue(it, DUE + k * DAY, policy) is None
    assert accruals_between(it, DUE + DAY, DUE + 3 * DAY, policy) == []
    # Grace over and still unpaid: the grace days are owed too, from due + 1.
    caught_up = accruals_between(it, DUE + DAY, DUE + 4 * DAY, policy)
    assert [a.accrual_date for a in caught_up] == [DUE + k * DAY for k in (1, 2, 3, 4)]
    assert sum(a.amount for a in caught_up) == D("4.16")
    assert accrue(it, DUE + DAY, policy, as_of=DUE + 4 * DAY) == caught_up[0]
    assert accrue(it, DUE + 5 * DAY, policy).accrual_date == DUE + 5 * DAY


def test_nothing_owed_on_a_paid_installment():
    assert accrue(item("0.00", "0.00"), DUE + DAY) is None
    assert accrue(item("0.00", "10.00"), DUE + DAY, PenaltyPolicy(include_interest=False)) is None
    assert accrue(item(rate="0"), DUE + DAY) is None  # zero-amount days are not recorded


def test_same_key_is_never_charged_twice():
    it = item()
    stored = accruals_between(it, DUE + DAY, DUE + 5 * DAY)
    seen = {a.key for a in stored}
    again = accruals_between(it, DUE + DAY, DUE + 7 * DAY)
    new = only_new(again, seen)
    assert [a.accrual_date for a in new] == [DUE + 6 * DAY, DUE + 7 * DAY]
    assert len({a.key for a in stored + new}) == len(stored + new)


def test_accruals_between_starts_after_due_date():
    got = accruals_between(item(), DUE - 10 * DAY, DUE + 2 * DAY)
    assert [a.accrual_date for a in got] == [DUE + DAY, DUE + 2 * DAY]


def test_invalid_policies():
    with pytest.raises(ValueError):
        PenaltyPolicy(grace_days=-1)
    with pytest.raises(ValueError):
        PenaltyPolicy(multiplier=D("-1"))
    with pytest.raises(ValueError):
        PenaltyPolicy(day_basis=0)


amounts = st.integers(min_value=0, max_value=500_000_000).map(lambda c: D(c) / 100)
rates = st.integers(min_value=0, max_value=3600).map(lambda bp: D(bp) / 10_000)


@settings(max_examples=150, deadline=None)
@given(
    principal=amounts,
    interest=amounts,
    rate=rates,
    grace=st.integers(min_value=0, max_value=10),
    start_offset=st.integers(min_value=-5, max_value=40),
    length=st.integers(min_value=0, max_value=60),
    include_interest=st.booleans(),
)
def test_catch_up_equals_sum_of_single_days(
    principal, interest, rate, grace, start_offset, length, include_interest
):
    policy = PenaltyPolicy(grace_days=grace, include_interest=include_interest)
    it = item(principal, interest, rate)
    start = DUE + start_offset * DAY
    end = start + length * DAY
    caught_up = accruals_between(it, start, end, policy)
    singles = [accrue(it, start + k * DAY, policy, as_of=end) for k in range(length + 1)]
    assert caught_up == [a for a in singles if a is not None]
    if (end - DUE).days > grace:
        days_owed = max(0, (end - max(start, DUE + DAY)).days + 1)
        expected = daily_penalty(it.base(policy), it.annual_rate, policy) * days_owed
        assert sum((a.amount for a in caught_up), D(0)) == expected
    else:
        assert caught_up == []
    if grace == 0:  # without grace, the nightly job's own-day calls give the same accruals
        nightly = [accrue(it, start + k * DAY, policy) for k in range(length + 1)]
        assert caught_up == [a for a in nightly if a is not None]
