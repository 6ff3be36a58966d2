"""Book the sample world's loans and post their repayment history (the demo portfolio).

`load_world_loans(session, world, ids)` runs after
`chedaitong_sim.worldload.origination.load_world` (whose return value is `ids`): every loan of
the world's `loans` table whose customer was loaded is booked with
`servicing.booking.book_loan` from its own terms (principal, annual_rate, term,
repayment_method, disbursed_at) and its `repayments` rows that were paid are posted in
payment order through `post_repayment`, source ``world`` and external ref
``<loan_id>-<installment_no>``, so loading twice books and posts nothing twice. When the
loan's application row exists it is moved to ``booked`` with a state transition whose note is
the loan ref (what the application pages show).

What a world row becomes, and where the two models differ (not papered over):
- dates are the world's local (Asia/Shanghai) calendar days; a payment's `paid_at` becomes
  its `paid_on`;
- a part-payment (`partial_amount` at `partial_paid_at`) posts first, ref ``…-p``; a paid row
  posts the rest of `amount_paid` + `penalty_interest`: what the customer handed over. Servicing
  then charges its *own* 罚息 (contract rate × 1.5 / 360 on the overdue principal + interest,
  daily) and allocates penalty → interest → principal, so when the world's penalty differs the
  difference shows up as a few cents/yuan of unapplied money or of an unpaid remainder;
- due days: the world clips the due day to 28, servicing clamps to the month's length
  (disbursed on the 29th–31st → due on the 29th–31st where the month has it). For those loans
  a world on-time payment made between the 28th and the servicing due date is posted as an
  advance payment of the current installment (allowed: `prepay_current`), and a world "late"
  payment is up to three days less late in servicing;
- schedule amounts are rebuilt by `servicing.schedule`; they may differ from the world's
  `amount_due` by rounding cents (the posted amount is the world's, so cents may be left over);
- rows that were never paid (``missed``, ``charged_off``) post nothing: those loans are simply
  delinquent here. Servicing has no charged-off status, so a world write-off stays ``active``
  and ages into M3+ — the collection actions the nightly job raises for it are correct for a
  live book.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Application
from chedaitong.db.origination import StateTransition
from chedaitong.db.servicing import Loan
from servicing.booking import book_loan, post_repayment

SOURCE = "world"
BOOKED = "booked"


def _local_day(value: Any) -> date:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:  # the world's naive times are local; keep them so
        stamp = stamp.tz_convert("Asia/Shanghai").tz_localize(None)
    return stamp.date()


def _cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def world_plan(row: Any) -> dict[str, Any]:
    """The `book_loan` plan of one world `loans` row."""
    return {
        "product_id": None,
        "financed_amount": str(_cents(row.principal)),
        "annual_rate": str(Decimal(str(row.annual_rate))),
        "term": int(row.term_months),
        "repayment_method": str(row.repayment_method),
    }


def load_world_loans(session: Session, world: Path, ids: dict) -> dict[str, int]:
    """Book the loaded customers' world loans and post their paid repayments (flushes, does not
    commit). Returns world loan id → loan id; idempotent (a booked ref is reused)."""
    world = Path(world)
    customers: dict[str, int] = ids.get("customers", {})
    applications: dict[str, int] = ids.get("applications", {})
    loans = pd.read_parquet(world / "loans.parquet")
    loans = loans[loans["customer_id"].isin(list(customers))].sort_values("loan_id")
    if loans.empty:
        return {}
    reps = pd.read_parquet(world / "repayments.parquet")
    paid = reps["paid_at"].notna()
    if "partial_paid_at" in reps.columns:
        paid |= reps["partial_paid_at"].notna()
    reps = reps[reps["loan_id"].isin(loans["loan_id"]) & paid]
    reps = reps.sort_values(["loan_id", "paid_at", "installment_no"])
    by_loan = {k: g for k, g in reps.groupby("loan_id", sort=False)}
    existing = dict(session.execute(
        select(Loan.ref, Loan.id).where(Loan.ref.in_(list(loans["loan_id"])))
    ).all())

    booked: dict[str, int] = {}
    for row in loans.itertuples(index=False):
        app_id = applications.get(row.application_id)
        loan_id = existing.get(row.loan_id)
        if loan_id is None:
            loan = book_loan(
                session, application_id=app_id, customer_id=customers[row.customer_id],
                plan=world_plan(row), disbursed_on=_local_day(row.disbursed_at),
                loan_ref=row.loan_id,
            )
            loan_id = loan.id
            if app_id is not None:
                _mark_booked(session, app_id, row.loan_id)
        booked[row.loan_id] = loan_id
        history = by_loan.get(row.loan_id)
        if history is None:
            continue
        for day, amount, ref in _payments(row.loan_id, history):
            post_repayment(session, loan_id, amount, day, SOURCE, ref)
    session.flush()
    return booked


def _payments(loan_ref: str, history: pd.DataFrame) -> list[tuple[Any, Decimal, str]]:
    """(day, amount, external ref) of a loan's payments in time order: a part-payment first
    (ref suffix ``-p``), then the rest with the penalty when the line is settled."""
    out = []
    has_part = "partial_amount" in history.columns
    for r in history.itertuples(index=False):
        part = _cents(r.partial_amount) if has_part and pd.notna(r.partial_paid_at) else 0
        ref = f"{loan_ref}-{int(r.installment_no)}"
        if part > 0:
            out.append((r.partial_paid_at, _local_day(r.partial_paid_at), part, ref + "-p"))
        if pd.notna(r.paid_at):
            amount = _cents(r.amount_paid) - part + _cents(r.penalty_interest)
            if amount > 0:
                out.append((r.paid_at, _local_day(r.paid_at), amount, ref))
    out.sort(key=lambda x: x[0])
    return [(day, amount, ref) for _, day, amount, ref in out]


def _mark_booked(session: Session, application_id: int, loan_ref: str) -> None:
    app = session.get(Application, application_id)
    if app is None or app.state == BOOKED:
        return
    session.add(StateTransition(application_id=app.id, from_state=app.state, to_state=BOOKED,
                                note=f"{loan_ref}"[:500]))
    app.state = BOOKED
