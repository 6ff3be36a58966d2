"""Booking builds the golden schedules; repayments are allocated, persisted and idempotent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db.servicing import Loan, LoanRepayment, PenaltyAccrual, ScheduledInstallment
from servicing.booking import BackDatedPayment, book_loan, post_repayment
from servicing.loan import Repayment, state_at
from servicing.schedule import build_schedule
from tests.servicing_db.conftest import plan

D = Decimal


def _rows(session, loan_id):
    return list(session.scalars(select(ScheduledInstallment).where(
        ScheduledInstallment.loan_id == loan_id).order_by(ScheduledInstallment.number)))


def _app_id(world) -> int:
    return next(iter(world["applications"].values()))


@pytest.mark.parametrize(("method", "first", "last", "interest"), [
    ("equal_installment", "3133.64", None, "12810.92"),
    ("equal_principal", "3444.44", "2796.30", "12333.33"),
])
def test_booking_creates_the_golden_schedule(engine, world, method, first, last, interest):
    with Session(engine) as session:
        loan = book_loan(session, application_id=_app_id(world), plan=plan(method=method),
                         disbursed_on=date(2025, 1, 31))
        session.commit()
        rows = _rows(session, loan.id)
    assert len(rows) == 36
    assert rows[0].principal_due + rows[0].interest_due == D(first)
    if last:
        assert rows[-1].principal_due + rows[-1].interest_due == D(last)
    assert sum(r.interest_due for r in rows) == D(interest)
    assert sum(r.principal_due for r in rows) == D("100000.00")
    assert [r.due_date for r in rows[:3]] == [date(2025, 2, 28), date(2025, 3, 31),
                                              date(2025, 4, 30)]
    assert loan.last_closed_date == date(2025, 1, 31) and loan.status == "active"


def test_late_payment_accrues_then_allocates_penalty_interest_principal(engine, world):
    with Session(engine) as session:
        loan = book_loan(session, application_id=_app_id(world), plan=plan(),
                         disbursed_on=date(2025, 1, 15), loan_ref="LATE1")
        # due 2025-02-15, paid 10 days late: 10 days of 罚息 on 3,133.64 at 8 % × 1.5 / 360
        rep, created = post_repayment(session, loan.id, D("3200.00"), date(2025, 2, 25),
                                      "api", "r1")
        session.commit()
        assert created
        daily = (D("3133.64") * D("0.08") * D("1.5") / 360).quantize(D("0.01"))
        accruals = session.scalars(select(PenaltyAccrual)).all()
        assert len(accruals) == 10 and all(a.amount == daily for a in accruals)
        lines = rep.allocation
        assert [ln["component"] for ln in lines[:3]] == ["penalty", "interest", "principal"]
        assert D(lines[0]["amount"]) == daily * 10
        first, second = _rows(session, loan.id)[:2]
        assert first.settled_on == date(2025, 2, 25)
        assert first.penalty_paid == daily * 10 and first.penalty_through == date(2025, 2, 25)
        # what is left over prepays the current period (product default), nothing is lost
        paid = sum(D(ln["amount"]) for ln in lines)
        assert paid + rep.unapplied == D("3200.00")
        prepaid = second.principal_paid + second.interest_paid
        assert prepaid == rep.amount - D("3133.64") - daily * 10
        # the same external reference posts nothing twice
        again, created = post_repayment(session, loan.id, D("3200.00"), date(2025, 2, 25),
                                        "api", "r1")
        assert not created and again.id == rep.id
        assert session.scalar(select(LoanRepayment.id).where(LoanRepayment.id != rep.id)) is None
        # the ledger agrees with a replay of the pure core
        replay = state_at(str(loan.id), build_schedule("equal_installment", D("100000.00"),
                                                       D("0.08"), 36, date(2025, 1, 15)),
                          [Repayment(date(2025, 2, 25), D("3200.00"))], as_of=date(2025, 2, 25))
        for row, inst in zip(_rows(session, loan.id), replay.installments, strict=True):
            assert (row.principal_paid, row.interest_paid, row.penalty_charged,
                    row.penalty_paid) == (inst.principal_paid, inst.interest_paid,
                                          inst.penalty_charged, inst.penalty_paid)


def test_overpayment_is_kept_as_unapplied_and_back_dated_is_refused(engine, world):
    with Session(engine) as session:
        loan = book_loan(session, application_id=_app_id(world), plan=plan(amount="1000.00",
                                                                            term=2),
                         disbursed_on=date(2025, 1, 15), loan_ref="SMALL")
        rep, _ = post_repayment(session, loan.id, D("5000.00"), date(2025, 2, 15), "api", "big")
        assert rep.unapplied > 0
        assert session.get(Loan, loan.id).unapplied == rep.unapplied
        with pytest.raises(BackDatedPayment):
            post_repayment(session, loan.id, D("10.00"), date(2025, 2, 1), "api", "old")


def test_the_same_payment_posted_twice_at_once_is_posted_once_and_found_by_the_other(
        engine, world, monkeypatch):
    """A channel that retries on a timeout sends the notification again while the first is
    being posted (or two imports of the same bank file run at once). Both looked for the
    reference, found none, and the second's insert hit the unique key: an IntegrityError out
    of post_repayment — a 409 for the channel's whole batch, a traceback in the bank-file
    import. Now the second waits for the loan and then finds the first's repayment."""
    import contextlib
    import threading

    from servicing import booking

    with Session(engine) as session:
        loan = book_loan(session, application_id=_app_id(world), plan=plan(),
                         disbursed_on=date(2025, 1, 15), loan_ref="TWICE")
        session.commit()
        loan_id = loan.id
    both = threading.Barrier(2, timeout=10)
    find = booking.find_repayment

    def meet_then_find(session, source, ref):  # the old code: both look before either posts
        # the new code: the second is still waiting for the loan (the barrier breaks)
        with contextlib.suppress(threading.BrokenBarrierError):
            both.wait(timeout=2)
        return find(session, source, ref)

    monkeypatch.setattr(booking, "find_repayment", meet_then_find)
    results: dict[str, object] = {}

    def post(name: str) -> None:
        with Session(engine) as session:
            try:
                rep, created = post_repayment(session, loan_id, D("3133.64"),
                                              date(2025, 2, 15), "api", "dup-1")
                session.commit()
                results[name] = created
            except Exception as exc:  # noqa: BLE001 - the old failure, reported below
                results[name] = exc

    threads = [threading.Thread(target=post, args=(n,), name=f"post-{n}") for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(map(str, results.values())) == ["False", "True"], results
    with Session(engine) as session:
        rows = session.scalars(select(LoanRepayment).where(LoanRepayment.loan_id == loan_id))
        assert [r.external_ref for r in rows] == ["dup-1"]
        assert _rows(session, loan_id)[0].settled_on == date(2025, 2, 15)
