"""Between the database rows and the pure money core: rows → `LoanState` → rows.

The pure functions in `servicing.loan` decide every amount; this module only translates. A
loan's state is rebuilt from its stored installment lines (what was paid and charged, and the
day penalty was accrued through), never replayed from scratch, so a repayment costs one loan's
rows whatever the loan's age.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db.servicing import Loan, PenaltyAccrual, ScheduledInstallment
from servicing.loan import InstallmentState, LoanState, ServicingPolicy
from servicing.penalty import Accrual, PenaltyPolicy
from servicing.schedule import Installment, Method, Schedule


def penalty_policy(loan: Loan) -> PenaltyPolicy:
    return PenaltyPolicy(
        multiplier=Decimal(loan.penalty_multiplier),
        grace_days=loan.penalty_grace_days,
        include_interest=loan.penalty_include_interest,
        day_basis=loan.penalty_day_basis,
    )


def servicing_policy(loan: Loan) -> ServicingPolicy:
    """Per-loan policy; allocation order and buckets are the product defaults for now."""
    return ServicingPolicy(penalty=penalty_policy(loan))


def installments_of(session: Session, loan_id: int) -> list[ScheduledInstallment]:
    stmt = (
        select(ScheduledInstallment)
        .where(ScheduledInstallment.loan_id == loan_id)
        .order_by(ScheduledInstallment.number)
    )
    return list(session.scalars(stmt))


def load_state(loan: Loan, rows: list[ScheduledInstallment]) -> LoanState:
    """The loan as the money core sees it, as of the day penalty was accrued through."""
    remaining = Decimal(loan.principal)
    lines = []
    for r in rows:
        remaining -= r.principal_due
        lines.append(
            Installment(
                r.number, r.due_date, r.principal_due, r.interest_due,
                r.principal_due + r.interest_due, remaining,
            )
        )
    schedule = Schedule(
        Method(loan.repayment_method), Decimal(loan.principal), Decimal(loan.annual_rate),
        loan.term_months, loan.disbursed_on, tuple(lines),
    )
    installments = tuple(
        InstallmentState(
            number=r.number,
            period_start=r.period_start,
            due_date=r.due_date,
            principal_due=r.principal_due,
            interest_due=r.interest_due,
            principal_paid=r.principal_paid,
            interest_paid=r.interest_paid,
            penalty_charged=r.penalty_charged,
            penalty_paid=r.penalty_paid,
            penalty_through=r.penalty_through,
        )
        for r in rows
    )
    return LoanState(
        loan_id=str(loan.id),
        schedule=schedule,
        policy=servicing_policy(loan),
        as_of=loan.accrued_through,
        installments=installments,
        unapplied=Decimal(loan.unapplied),
        closed_on=loan.closed_on,
    )


def store_state(
    session: Session,
    loan: Loan,
    rows: list[ScheduledInstallment],
    state: LoanState,
    new_accruals: Iterable[Accrual],
    on: date,
) -> None:
    """Write the state back (same transaction as the caller's repayment row)."""
    by_number = {i.number: i for i in state.installments}
    for r in rows:
        i = by_number[r.number]
        r.principal_paid = i.principal_paid
        r.interest_paid = i.interest_paid
        r.penalty_charged = i.penalty_charged
        r.penalty_paid = i.penalty_paid
        r.penalty_through = i.penalty_through
        if r.settled_on is None and i.unpaid_scheduled == 0:
            r.settled_on = on
    session.add_all(
        PenaltyAccrual(
            loan_id=loan.id, installment_no=a.installment_no, accrual_date=a.accrual_date,
            base=a.base, amount=a.amount,
        )
        for a in new_accruals
    )
    loan.accrued_through = max(loan.accrued_through, state.as_of)
    loan.unapplied = state.unapplied
    if state.closed_on is not None and loan.closed_on is None:
        loan.closed_on = state.closed_on
        loan.status = "closed"
