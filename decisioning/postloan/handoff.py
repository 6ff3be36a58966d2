"""Vendor hand-offs of the nightly job, idempotent by *state* (flows: side effects live here).

A loan in collection is a state, not an error: `collection_cases` holds at most one open case
per loan. An ``outsourced_collection`` action of a loan with an open case is not sent again
(status ``in_case``); an agency answering ``409 CASE_EXISTS`` (a case we lost track of: the
answer to an earlier night's call never arrived) is reconciled by looking the case up
(``reconciled``). While a case is open the agency gets the new overdue balance and DPD when they
change; it is withdrawn and closed when the loan is cured (nothing past due) or settled.

One loan's failed call never stops the others: the action stays ``failed`` (or the case keeps
its ``sync_error``) and the next run retries it — `send_pending` takes every pending or failed
action up to its day, oldest first, and `sync_cases` pushes whatever the agency has not yet got.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from chedaitong.db import Customer
from chedaitong.db.collection import CollectionCaseRow
from chedaitong.db.servicing import DelinquencySnapshot, Loan, PostloanAction, ScheduledInstallment
from decisioning.postloan import shutdown

SEND_STATUSES = ("pending", "failed")
COLLECTION = "outsourced_collection"
#: The agency already holds the case: reconcile by looking it up instead of failing.
CASE_EXISTS_CODES = {"CASE_EXISTS", "IDEMPOTENCY_KEY_REUSED"}


@dataclass
class Delivery:
    """What one run's hand-offs did (calls made) and what is still owed to a vendor."""

    sent: int = 0  # vendor calls that created something: SMS, new case
    in_case: int = 0  # collection asked for a loan already in collection: nothing sent
    reconciled: int = 0  # the agency had the case already (409): now tracked
    updated: int = 0  # open cases told their new balance / DPD
    closed: int = 0  # cases withdrawn: cured or settled
    failed: int = 0  # calls that failed this run (retried by the next run)
    retried: int = 0  # failed actions of earlier days sent again by this run
    failures: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("sent", "in_case", "reconciled", "updated",
                                              "closed", "failed", "retried")}


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:255]


def overdue_cents(session: Session, loan_id: int, as_of: date) -> int:
    """What the customer owes past due at `as_of`: principal, interest and penalty unpaid."""
    s = ScheduledInstallment
    row = session.execute(
        select(func.coalesce(func.sum(s.principal_due - s.principal_paid + s.interest_due
                                      - s.interest_paid + s.penalty_charged - s.penalty_paid), 0))
        .where(s.loan_id == loan_id, s.due_date < as_of)
    ).scalar_one()
    return int(Decimal(row) * 100)


def open_case(session: Session, loan_id: int) -> CollectionCaseRow | None:
    return session.scalar(select(CollectionCaseRow).where(
        CollectionCaseRow.loan_id == loan_id, CollectionCaseRow.status == "open"))


def send_pending(engine: Engine, as_of: date, vendors: Any, store: Any,
                 out: Delivery | None = None) -> Delivery:
    """Send every pending action of `as_of` and every failed one up to it, oldest first.

    Each action commits on its own, so a crash loses at most the one in flight, whose
    idempotency key (as_of, loan, action) makes its retry harmless."""
    out = out or Delivery()
    with Session(engine) as session:
        todo = session.scalars(
            select(PostloanAction)
            .where(PostloanAction.as_of <= as_of, PostloanAction.status.in_(SEND_STATUSES),
                   (PostloanAction.as_of == as_of) | (PostloanAction.status == "failed"))
            .order_by(PostloanAction.as_of, PostloanAction.id)
        ).all()
        for act in todo:
            shutdown.check()  # SIGTERM: every committed send stays committed
            retry = act.as_of < as_of
            try:
                status = _deliver(session, act, vendors, store)
            except Exception as exc:  # a vendor outage must not stop the other sends
                act.status, act.error = "failed", _error(exc)
                out.failed += 1
                out.failures.append(_failure(session, act))
            else:
                act.status, act.error = status, None
                setattr(out, status, getattr(out, status) + 1)
                out.retried += retry
            session.commit()
    return out


def _deliver(session: Session, act: PostloanAction, vendors: Any, store: Any) -> str:
    from vendors.interfaces import SmsMessage

    loan = session.get(Loan, act.loan_id)
    key = f"postloan-{act.as_of.isoformat()}-{loan.id}-{act.action}"
    if act.action == COLLECTION:
        case = open_case(session, loan.id)
        if case is not None:  # already in collection: a state, nothing to send
            act.vendor_ref = case.case_ref
            return "in_case"
        return _assign(session, act, loan, key, vendors, store)
    profile = store.profile(session.get(Customer, loan.customer_id))
    receipt = vendors.sms.send(SmsMessage(
        phone=profile.phone, template="postloan_reminder",
        params=(("loan", loan.ref), ("dpd", str(act.dpd))), idempotency_key=key,
    ))
    act.vendor_ref = receipt.message_id
    return "sent"


def _assign(session: Session, act: PostloanAction, loan: Loan, key: str, vendors: Any,
            store: Any) -> str:
    from vendors.errors import VendorRejected
    from vendors.interfaces import CollectionCase

    profile = store.profile(session.get(Customer, loan.customer_id))
    owed = overdue_cents(session, loan.id, act.as_of)
    try:
        got = vendors.collection.assign(CollectionCase(
            loan_id=loan.ref, name=profile.name, id_number=profile.id_number,
            phone=profile.phone, overdue_amount_cents=owed, days_past_due=act.dpd,
            bucket=act.bucket, idempotency_key=key,
        ))
        case_ref, agency, status = got.case_id, got.agency, "sent"
    except VendorRejected as exc:
        if exc.code not in CASE_EXISTS_CODES:
            raise
        found = vendors.collection.open_case(loan.ref)
        if found is None:  # closed at the agency in between: the next run assigns afresh
            raise
        case_ref, agency, status = found.case_id, None, "reconciled"
    session.add(CollectionCaseRow(
        loan_id=loan.id, case_ref=case_ref, agency=agency, status="open", opened_on=act.as_of,
        reconciled=status == "reconciled", dpd=act.dpd, overdue_amount=Decimal(owed) / 100,
        synced_on=act.as_of,
    ))
    act.vendor_ref = case_ref
    return status


def sync_cases(engine: Engine, as_of: date, vendors: Any, out: Delivery | None = None
               ) -> Delivery:
    """Bring every open case up to `as_of`: withdraw it when the loan is cured or settled,
    otherwise push the new balance and DPD when they differ from what the agency has."""
    out = out or Delivery()
    with Session(engine) as session:
        cases = session.scalars(select(CollectionCaseRow).where(
            CollectionCaseRow.status == "open", CollectionCaseRow.opened_on <= as_of)
            .order_by(CollectionCaseRow.id)).all()
        for case in cases:
            shutdown.check()
            loan = session.get(Loan, case.loan_id)
            dpd = session.scalar(
                select(DelinquencySnapshot.dpd).where(DelinquencySnapshot.loan_id == loan.id,
                                                      DelinquencySnapshot.as_of <= as_of)
                .order_by(DelinquencySnapshot.as_of.desc()).limit(1))
            try:
                if loan.status != "active" or dpd == 0:
                    reason = "settled" if loan.status != "active" else "cured"
                    vendors.collection.withdraw(case.case_ref, reason=reason,
                                                idempotency_key=f"case-{case.case_ref}-withdraw")
                    case.status, case.closed_on, case.close_reason = "closed", as_of, reason
                    out.closed += 1
                elif dpd is not None:
                    owed = overdue_cents(session, loan.id, as_of)
                    if (dpd, owed) != (case.dpd, int(case.overdue_amount * 100)):
                        bucket = session.scalar(select(DelinquencySnapshot.bucket).where(
                            DelinquencySnapshot.loan_id == loan.id,
                            DelinquencySnapshot.as_of <= as_of)
                            .order_by(DelinquencySnapshot.as_of.desc()).limit(1))
                        vendors.collection.update(
                            case.case_ref, overdue_amount_cents=owed, days_past_due=dpd,
                            bucket=bucket, idempotency_key=f"case-{case.case_ref}-{as_of}")
                        case.dpd, case.overdue_amount = dpd, Decimal(owed) / 100
                        out.updated += 1
                case.synced_on, case.sync_error = max(case.synced_on, as_of), None
            except Exception as exc:  # retried by the next run: the figures still differ
                case.sync_error = _error(exc)
                out.failed += 1
                out.failures.append({"loan": loan.ref, "action": "case_sync",
                                     "as_of": as_of.isoformat(), "case": case.case_ref,
                                     "error": case.sync_error})
            session.commit()
    return out


def _failure(session: Session, act: PostloanAction) -> dict[str, Any]:
    ref = session.scalar(select(Loan.ref).where(Loan.id == act.loan_id))
    return {"loan": ref, "action": act.action, "as_of": act.as_of.isoformat(),
            "error": act.error}


def failed_sends(engine: Engine, as_of: date) -> list[dict[str, Any]]:
    """The day's hand-offs still owed to a vendor, as stored (for the run report)."""
    with Session(engine) as session:
        acts = session.execute(
            select(Loan.ref, PostloanAction.action, PostloanAction.as_of, PostloanAction.error)
            .join(Loan, Loan.id == PostloanAction.loan_id)
            .where(PostloanAction.as_of == as_of, PostloanAction.status == "failed")
            .order_by(Loan.ref, PostloanAction.action)).all()
        cases = session.execute(
            select(Loan.ref, CollectionCaseRow.case_ref, CollectionCaseRow.sync_error)
            .join(Loan, Loan.id == CollectionCaseRow.loan_id)
            .where(CollectionCaseRow.status == "open", CollectionCaseRow.sync_error.is_not(None))
            .order_by(Loan.ref)).all()
    return ([{"loan": r, "action": a, "as_of": d.isoformat(), "error": e}
             for r, a, d, e in acts]
            + [{"loan": r, "action": "case_sync", "as_of": as_of.isoformat(), "case": c,
                "error": e} for r, c, e in cases])


def deliver(engine: Engine, as_of: date, vendors: Any, store: Any) -> Delivery:
    """The day's hand-offs: actions first (new cases open), then every open case brought up
    to the day (so a case opened from a retried older action gets today's figures)."""
    out = send_pending(engine, as_of, vendors, store)
    return sync_cases(engine, as_of, vendors, out)
