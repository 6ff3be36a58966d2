"""Loan state: payments after accrual, settlement, nightly job vs replay, determinism."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicing.allocation import INTEREST_FIRST, Component
from servicing.loan import (
    LoanState,
    Repayment,
    ServicingPolicy,
    SettlementInterest,
    accrue_to,
    apply_payment,
    open_loan,
    payoff_quote,
    state_at,
)
from servicing.penalty import PenaltyPolicy
from servicing.schedule import equal_installment, equal_principal

D = Decimal
DAY = timedelta(days=1)
P, INT, PR = Component.PENALTY, Component.INTEREST, Component.PRINCIPAL
SCHEDULE = equal_installment(D("100000.00"), D("0.08"), 36, date(2027, 1, 15))
DUE1, DUE2 = date(2027, 2, 15), date(2027, 3, 15)
PAYMENT = D("3133.64")


def loan(policy: ServicingPolicy | None = None) -> LoanState:
    return open_loan("L-1", SCHEDULE, policy or ServicingPolicy())


def lines(allocation):
    return [(x.installment_no, x.component, x.amount) for x in allocation.lines]


def days(start: date, end: date):
    d = start
    while d <= end:
        yield d
        d += DAY


def test_on_time_payment_has_no_penalty():
    state, alloc = apply_payment(loan(), PAYMENT, DUE1)
    assert lines(alloc) == [(1, INT, D("666.67")), (1, PR, D("2466.97"))]
    assert state.accruals == () and alloc.unapplied == 0
    assert (state.outstanding_principal, state.dpd, state.bucket) == (D("97533.03"), 0, "M0")


def test_late_payment_accrues_to_the_payment_date_first():
    paid_on = date(2027, 3, 1)  # 14 days late
    state, alloc = apply_payment(loan(), PAYMENT + D("14.56"), paid_on)
    assert [a.accrual_date for a in state.accruals] == list(days(DUE1 + DAY, paid_on))
    assert {a.amount for a in state.accruals} == {D("1.04")}
    assert lines(alloc) == [(1, P, D("14.56")), (1, INT, D("666.67")), (1, PR, D("2466.97"))]
    assert (state.outstanding_penalty, state.dpd, alloc.unapplied) == (0, 0, 0)


def test_partial_payment_pays_penalty_then_interest_and_lowers_the_base():
    state, alloc = apply_payment(loan(), D("500.00"), date(2027, 3, 1))
    assert lines(alloc) == [(1, P, D("14.56")), (1, INT, D("485.44"))]
    inst = state.installments[0]
    assert (inst.unpaid_interest, inst.unpaid_principal) == (D("181.23"), D("2466.97"))
    assert state.dpd == 14 and state.bucket == "M1"
    state, new = accrue_to(state, date(2027, 3, 2))
    assert [(a.base, a.amount) for a in new] == [(D("2648.20"), D("0.88"))]


def test_over_payment_prepays_the_current_period_then_returns_the_rest():
    state, alloc = apply_payment(loan(), D("10000.00"), DUE1)
    assert lines(alloc) == [
        (1, INT, D("666.67")),
        (1, PR, D("2466.97")),
        (2, INT, D("650.22")),
        (2, PR, D("2483.42")),
    ]
    assert alloc.unapplied == state.unapplied == D("3732.72")
    state, new = accrue_to(state, DUE2 + 10 * DAY)  # installment 2 was paid ahead
    assert new == () and state.dpd == 0

    no_prepay = loan(ServicingPolicy(prepay_current=False))
    _, alloc = apply_payment(no_prepay, D("10000.00"), DUE1)
    assert alloc.unapplied == D("6866.36")


def test_oldest_installment_first_across_overdue_installments():
    paid_on = date(2027, 3, 20)
    state, alloc = apply_payment(loan(), D("4000.00"), paid_on)
    assert lines(alloc) == [
        (1, P, D("34.32")),  # Feb 16 .. Mar 20 = 33 days × 1.04
        (1, INT, D("666.67")),
        (1, PR, D("2466.97")),
        (2, P, D("5.20")),  # Mar 16 .. Mar 20 = 5 days × 1.04
        (2, INT, D("650.22")),
        (2, PR, D("176.62")),
    ]
    assert (state.dpd, state.bucket) == (5, "M1")

    _, alloc = apply_payment(loan(ServicingPolicy(allocation=INTEREST_FIRST)), D("700.00"), paid_on)
    assert lines(alloc) == [(1, INT, D("666.67")), (1, P, D("33.33"))]


def test_grace_paid_within_grace_costs_nothing():
    policy = ServicingPolicy(penalty=PenaltyPolicy(grace_days=3))
    state, alloc = apply_payment(loan(policy), PAYMENT, DUE1 + 3 * DAY)
    assert state.accruals == () and lines(alloc)[0][1] == INT
    state, alloc = apply_payment(loan(policy), PAYMENT + D("4.16"), DUE1 + 4 * DAY)
    assert [a.accrual_date for a in state.accruals] == list(days(DUE1 + DAY, DUE1 + 4 * DAY))
    assert lines(alloc)[0] == (1, P, D("4.16"))


def test_grace_nightly_job_catches_up_when_grace_expires():
    policy = ServicingPolicy(penalty=PenaltyPolicy(grace_days=3))
    state = loan(policy)
    for day in days(DUE1, DUE1 + 3 * DAY):
        state, new = accrue_to(state, day)
        assert new == ()
    assert state.dpd == 3  # grace waives penalty, not lateness
    state, new = accrue_to(state, DUE1 + 4 * DAY)
    assert [a.accrual_date for a in new] == list(days(DUE1 + DAY, DUE1 + 4 * DAY))
    state, new = accrue_to(state, DUE1 + 5 * DAY)
    assert [a.accrual_date for a in new] == [DUE1 + 5 * DAY]


def test_partial_payment_within_grace_lowers_the_base_of_the_grace_days():
    policy = ServicingPolicy(penalty=PenaltyPolicy(grace_days=3))
    state, _ = apply_payment(loan(policy), D("3000.00"), DUE1 + 2 * DAY)
    state, new = accrue_to(state, DUE1 + 4 * DAY)
    assert [(a.base, a.amount) for a in new] == [(D("133.64"), D("0.04"))] * 4


def test_no_double_charge_whatever_the_order_of_nightly_and_payment():
    day = date(2027, 3, 1)
    state, _ = accrue_to(loan(), day - DAY)
    nightly_first, new = accrue_to(state, day)
    assert len(new) == 1
    assert accrue_to(nightly_first, day) == (nightly_first, ())
    assert accrue_to(nightly_first, day - 5 * DAY)[1] == ()
    nightly_first, alloc_a = apply_payment(nightly_first, D("1000.00"), day)
    payment_first, alloc_b = apply_payment(state, D("1000.00"), day)
    payment_first, new = accrue_to(payment_first, day)
    assert new == () and alloc_a == alloc_b and nightly_first == payment_first
    keys = [a.key for a in payment_first.accruals]
    assert len(keys) == len(set(keys))


def test_back_dated_payment_is_refused():
    state, _ = accrue_to(loan(), date(2027, 3, 1))
    with pytest.raises(ValueError, match="before"):
        apply_payment(state, PAYMENT, date(2027, 2, 20))


def test_payoff_quote_prorates_the_current_period_interest():
    state, _ = apply_payment(loan(), PAYMENT, DUE1)
    on = date(2027, 3, 1)  # 14 of the 28 days of period 2
    quote = payoff_quote(state, on)
    assert (quote.principal, quote.interest, quote.penalty) == (D("97533.03"), D("325.11"), 0)
    assert quote.total == D("97858.14")
    full_period = ServicingPolicy(settlement_interest=SettlementInterest.FULL_PERIOD)
    full = replace(state, policy=full_period)
    assert payoff_quote(full, on).interest == D("650.22")

    settled, alloc = apply_payment(state, quote.total + D("100.00"), on, settle=True)
    assert alloc.unapplied == D("100.00") and alloc.applied == quote.total
    assert settled.closed_on == on
    assert settled.outstanding_principal == 0 and settled.outstanding_penalty == 0
    assert all(i.unpaid_total == 0 for i in settled.installments)
    later, new = accrue_to(settled, on + 100 * DAY)
    assert new == () and later.dpd == 0
    _, alloc = apply_payment(later, D("50.00"), on + 100 * DAY)
    assert alloc.lines == () and alloc.unapplied == D("50.00")

    with pytest.raises(ValueError, match="settlement needs"):
        apply_payment(state, quote.total - D("0.01"), on, settle=True)


def test_payoff_quote_includes_overdue_interest_and_penalty():
    quote = payoff_quote(loan(), date(2027, 3, 1))
    assert quote.principal == D("100000.00")
    assert quote.interest == D("666.67") + D("325.11")
    assert quote.penalty == D("14.56")
    settled, _ = apply_payment(loan(), quote.total, date(2027, 3, 1), settle=True)
    assert settled.closed_on == date(2027, 3, 1) and settled.unapplied == 0


def test_settlement_on_a_due_date_and_after_paying_ahead():
    state, _ = apply_payment(loan(), PAYMENT, DUE1)
    assert payoff_quote(state, DUE2).interest == D("650.22")  # period 2 due in full, 3 not begun
    ahead, _ = apply_payment(loan(), PAYMENT * 2, DUE1)  # period 2 paid in advance
    quote = payoff_quote(ahead, date(2027, 3, 1))
    assert quote.interest == 0  # its interest was paid: kept, not refunded
    assert quote.principal == D("100000.00") - D("2466.97") - D("2483.42")


def test_paying_every_installment_closes_the_loan():
    state = loan()
    for inst in SCHEDULE.installments:
        state, alloc = apply_payment(state, inst.amount, inst.due_date)
        assert alloc.unapplied == 0
    assert state.closed_on == SCHEDULE.installments[-1].due_date
    assert (state.outstanding_principal, state.accruals, state.dpd) == (0, (), 0)


@pytest.mark.parametrize(("late", "label"), [(0, "M0"), (1, "M1"), (30, "M1"), (31, "M2")])
def test_state_dpd_and_bucket(late, label):
    as_of = DUE1 + late * DAY
    state, _ = accrue_to(loan(), as_of)
    assert (state.dpd, state.bucket) == (late, label)
    overdue = [i for i in SCHEDULE.installments if i.due_date < as_of]
    assert state.overdue_principal == sum((i.principal for i in overdue), D(0))
    assert state.overdue_interest == sum((i.interest for i in overdue), D(0))
    if late == 1:
        assert (state.overdue_principal, state.overdue_interest) == (D("2466.97"), D("666.67"))
    assert state.due_interest == sum(
        (i.interest for i in SCHEDULE.installments if i.due_date <= as_of), D(0)
    )


def test_nightly_job_and_replay_agree():
    """Accruing every night with payments in between == rebuilding from repayments alone,
    and == rebuilding from repayments + the accruals the nightly job stored."""
    repayments = [
        Repayment(date(2027, 2, 20), D("1000.00")),
        Repayment(date(2027, 3, 20), D("4000.00")),
        Repayment(date(2027, 3, 20), D("50.00")),
        Repayment(date(2027, 5, 2), D("2500.00")),
    ]
    end = date(2027, 6, 30)
    state = loan()
    stored = []
    for day in days(date(2027, 1, 16), end):
        for r in (r for r in repayments if r.paid_on == day):
            state, _ = apply_payment(state, r.amount, r.paid_on)
        state, new = accrue_to(state, day)
        stored.extend(new)
    stored.extend(a for a in state.accruals if a.key not in {s.key for s in stored})
    replayed = state_at("L-1", SCHEDULE, repayments, as_of=end)
    with_ledger = state_at("L-1", SCHEDULE, repayments, stored, as_of=end)
    for other in (replayed, with_ledger):
        assert other.installments == state.installments
        assert sorted(other.accruals, key=lambda a: a.key) == sorted(
            state.accruals, key=lambda a: a.key
        )
        assert other.unapplied == state.unapplied
    assert state.dpd > 0


def test_stored_accruals_are_authoritative():
    stored = list(accrue_to(loan(), date(2027, 3, 1))[0].accruals)
    stored[0] = replace(stored[0], amount=D("9.99"))
    state = state_at("L-1", SCHEDULE, [], stored, as_of=date(2027, 3, 1))
    assert state.outstanding_penalty == D("14.56") - D("1.04") + D("9.99")


def test_stale_stored_accruals_are_reported():
    stored = accrue_to(loan(), date(2027, 3, 1))[0].accruals
    back_dated = [Repayment(DUE1, PAYMENT)]  # installment 1 was in fact paid on time
    with pytest.raises(ValueError, match="not reproduced"):
        state_at("L-1", SCHEDULE, back_dated, stored, as_of=date(2027, 3, 1))
    with pytest.raises(ValueError, match="not for loan"):
        state_at("L-2", SCHEDULE, [], stored, as_of=date(2027, 3, 1))


def test_stored_grace_days_are_not_owed_before_grace_expires():
    policy = ServicingPolicy(penalty=PenaltyPolicy(grace_days=3))
    stored = accrue_to(loan(policy), DUE1 + 5 * DAY)[0].accruals
    early = state_at("L-1", SCHEDULE, [], stored, as_of=DUE1 + 2 * DAY, policy=policy)
    assert early.outstanding_penalty == 0
    late = state_at("L-1", SCHEDULE, [], stored, as_of=DUE1 + 5 * DAY, policy=policy)
    assert late.outstanding_penalty == D("5.20")


def test_equal_principal_loan_services_the_same_way():
    schedule = equal_principal(D("100000.00"), D("0.08"), 36, date(2027, 1, 31))
    state = open_loan("L-9", schedule)
    state, alloc = apply_payment(state, D("3444.44"), date(2027, 2, 28))
    assert lines(alloc) == [(1, INT, D("666.66")), (1, PR, D("2777.78"))]


repayment_lists = st.lists(
    st.builds(
        Repayment,
        paid_on=st.integers(min_value=0, max_value=420).map(
            lambda n: date(2027, 1, 15) + timedelta(days=n)
        ),
        amount=st.integers(min_value=0, max_value=600_000).map(lambda c: D(c) / 100),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(repayment_lists, st.integers(min_value=0, max_value=5), st.booleans())
def test_replay_is_deterministic_and_conserves_money(repayments, grace, prepay):
    schedule = equal_installment(D("20000.00"), D("0.12"), 12, date(2027, 1, 15))
    policy = ServicingPolicy(penalty=PenaltyPolicy(grace_days=grace), prepay_current=prepay)
    as_of = date(2028, 3, 31)
    state = open_loan("L-P", schedule, policy)
    applied = D(0)
    for r in sorted(repayments, key=lambda r: r.paid_on):
        state, alloc = apply_payment(state, r.amount, r.paid_on)
        assert alloc.applied + alloc.unapplied == r.amount
        applied += alloc.applied
    state, _ = accrue_to(state, as_of)

    replayed = state_at("L-P", schedule, repayments, as_of=as_of, policy=policy)
    assert replayed == state
    with_ledger = state_at("L-P", schedule, repayments, state.accruals, as_of=as_of, policy=policy)
    assert with_ledger == state
    paid = sum((r.amount for r in repayments), D(0))
    assert applied + state.unapplied == paid
    charged = sum((a.amount for a in state.accruals), D(0))
    owed_before = schedule.total_amount + charged
    owed_after = sum((i.unpaid_total for i in state.installments), D(0))
    assert owed_before - owed_after == applied
    for inst in state.installments:
        assert inst.unpaid_principal >= 0 and inst.unpaid_interest >= 0
        assert inst.unpaid_penalty >= 0
        mine = [a for a in state.accruals if a.installment_no == inst.number]
        assert inst.penalty_charged == sum((a.amount for a in mine), D(0))
        assert all(a.accrual_date > inst.due_date for a in mine)
    keys = [a.key for a in state.accruals]
    assert len(keys) == len(set(keys))
