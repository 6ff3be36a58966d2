"""Booking a loan at car pickup and posting repayments (service layer: keyword-only, session in).

`book_loan` turns the plan the customer chose (one offer dict of a decision record) into a loan
and its schedule, built by `servicing.schedule` so the quote and the bill cannot differ.
`post_repayment` accrues penalty up to the payment date with the same function the nightly job
mirrors (`servicing.loan.accrue_to`, via `apply_payment`), then allocates; it is idempotent on
(source, external_ref), so a re-sent bank line or API retry posts nothing twice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.clock import lender_today
from chedaitong.db import Application
from chedaitong.db.locks import hold_row
from chedaitong.db.servicing import Loan, LoanRepayment, ScheduledInstallment
from servicing.ledger import installments_of, load_state, store_state
from servicing.loan import apply_payment
from servicing.money import money, rate
from servicing.penalty import DEFAULT_PENALTY
from servicing.schedule import Method, build_schedule


class ServicingError(ValueError):
    """A request the ledger refuses; the message says why, in one sentence."""


class BackDatedPayment(ServicingError):
    """The payment date is before the day penalty was already accrued through."""


class FutureDatedPayment(ServicingError):
    """The payment date is after the lender's today: no one has paid it yet. Posted, it would
    accrue the loan's penalty through that date and refuse every real payment before it."""


def book_loan(
    session: Session,
    *,
    application_id: int | None,
    plan: dict[str, Any],
    disbursed_on: date,
    loan_ref: str | None = None,
    customer_id: int | None = None,
) -> Loan:
    """Create the loan and its schedule from the chosen plan (flushes, does not commit).

    Without an application (a migrated or world loan whose application is not on file) the
    loan needs `customer_id` and a `loan_ref`."""
    app = session.get(Application, application_id) if application_id is not None else None
    if app is None and (application_id is not None or customer_id is None or not loan_ref):
        raise ServicingError(f"no application {application_id}")
    principal = money(str(plan["financed_amount"]), "financed_amount")
    annual_rate = rate(str(plan["annual_rate"]))
    term = int(plan["term"])
    method = Method(plan.get("repayment_method", Method.EQUAL_INSTALLMENT))
    schedule = build_schedule(method, principal, annual_rate, term, disbursed_on)
    loan = Loan(
        ref=loan_ref or f"L{app.ref}"[:32],
        application_id=app.id if app else None,
        customer_id=app.customer_id if app else customer_id,
        product_id=plan.get("product_id"),
        principal=principal,
        annual_rate=annual_rate,
        term_months=term,
        repayment_method=method.value,
        penalty_multiplier=Decimal(str(plan.get("penalty_multiplier", DEFAULT_PENALTY.multiplier))),
        penalty_grace_days=int(plan.get("penalty_grace_days", DEFAULT_PENALTY.grace_days)),
        penalty_include_interest=DEFAULT_PENALTY.include_interest,
        penalty_day_basis=DEFAULT_PENALTY.day_basis,
        disbursed_on=disbursed_on,
        status="active",
        last_closed_date=disbursed_on,
        accrued_through=disbursed_on,
        unapplied=Decimal("0.00"),
    )
    session.add(loan)
    session.flush()
    starts = [disbursed_on] + [i.due_date for i in schedule.installments[:-1]]
    session.add_all(
        ScheduledInstallment(
            loan_id=loan.id, number=i.number, period_start=start, due_date=i.due_date,
            principal_due=i.principal, interest_due=i.interest,
            principal_paid=Decimal("0.00"), interest_paid=Decimal("0.00"),
            penalty_charged=Decimal("0.00"), penalty_paid=Decimal("0.00"),
        )
        for i, start in zip(schedule.installments, starts, strict=True)
    )
    session.flush()
    return loan


def find_repayment(session: Session, source: str, external_ref: str) -> LoanRepayment | None:
    stmt = select(LoanRepayment).where(
        LoanRepayment.source == source, LoanRepayment.external_ref == external_ref
    )
    return session.scalars(stmt).one_or_none()


def post_repayment(
    session: Session,
    loan_id: int,
    amount: Decimal,
    paid_on: date,
    source: str,
    external_ref: str,
) -> tuple[LoanRepayment, bool]:
    """Post one payment; returns (repayment, created). A known (source, external_ref) with
    the same loan, amount and date returns the stored repayment and False (a retry); with any
    of them different it is another payment under a reused reference: ServicingError, since
    answering "already posted" would drop it unposted."""
    # one payment on a loan at a time, looked up under the hold: a twin of this one (a
    # channel's retry, the same bank file imported twice at once) that got there first has
    # committed by then and is found, instead of both inserting and one failing on the key
    hold_row(session, Loan, loan_id)
    existing = find_repayment(session, source, external_ref)
    if existing is not None:
        if (existing.loan_id, existing.amount, existing.paid_on) != (loan_id, amount, paid_on):
            raise ServicingError(f"reference {external_ref} was already used for another "
                                 f"payment (a different loan, amount or date)")
        return existing, False
    if paid_on > lender_today():
        raise FutureDatedPayment("paid_on is in the future")
    loan = session.get(Loan, loan_id, with_for_update=True)
    if loan is None:
        raise ServicingError(f"no loan {loan_id}")
    paid = money(amount, "amount")
    if paid <= 0:
        raise ServicingError("amount must be positive")
    if paid_on < loan.accrued_through:
        raise BackDatedPayment(
            f"paid on {paid_on} but penalty is already accrued through {loan.accrued_through}"
        )
    if paid_on < loan.disbursed_on:
        raise ServicingError(f"paid on {paid_on}, before disbursement {loan.disbursed_on}")
    rows = installments_of(session, loan.id)
    state, allocation = apply_payment(load_state(loan, rows), paid, paid_on)
    store_state(session, loan, rows, state, state.accruals, paid_on)
    repayment = LoanRepayment(
        loan_id=loan.id, source=source, external_ref=external_ref, amount=paid,
        paid_on=paid_on, unapplied=allocation.unapplied,
        allocation=[
            {"installment_no": ln.installment_no, "component": ln.component.value,
             "amount": str(ln.amount)}
            for ln in allocation.lines
        ],
    )
    session.add(repayment)
    session.flush()
    return repayment, True
