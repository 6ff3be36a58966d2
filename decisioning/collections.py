"""The collector's worklist: overdue loans, most expected loss first, and what was done on each.

A case is an active loan with an installment past due and unpaid. Priority is expected loss —
outstanding principal × probability of default (the nightly inspection's latest score, else the
decision's) — then days past due. The collector sees masked identifiers only, the schedule,
arrears, contact history and promises to pay; outcomes are recorded here, calls go through the
outbound-call vendor. A promise is also a feature-store fact (source ``collections``), so the
next nightly inspection's rules see it (`promise_to_pay_open` holds the phone task until the
promised day). A promise to pay is *kept* when payments since it was made reach its
amount by its date, *broken* when the date passes short of it, *open* until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.clock import lender_today
from chedaitong.crypto import mask_phone
from chedaitong.db import Customer, DecisionRecord, FeatureFact, User, claims
from chedaitong.db.partners import CollectionContact
from chedaitong.db.servicing import (
    DelinquencySnapshot,
    Loan,
    LoanRepayment,
    PostloanAction,
    ScheduledInstallment,
)
from chedaitong.errors import Invalid, NotFound
from decisioning.container import Services
from decisioning.origination.customers import masked_name
from decisioning.origination.identity import vendor_failed
from decisioning.origination.profile import contacts_masked
from servicing.ledger import load_state
from servicing.loan import accrue_to
from servicing.money import ZERO, money, to_cents
from vendors.errors import VendorError
from vendors.interfaces import CallRequest, CallStatus

OUTCOMES = ("reached", "promise_to_pay", "refused", "wrong_number", "no_answer")
PROMISE_MAX_DAYS = 30  # a promise further out is a restructuring, not collections' to accept
PROMISE_MAX_AMOUNT = Decimal(100_000_000)  # the largest promise the API and the pages take
DEFAULT_PD = 0.10  # a loan never scored by either model
#: the nightly run's internal actions that a collector works (the vendor ones are sent)
WORKED_ACTIONS = ("phone_task", "gps_alert")
EPOCH = date(1970, 1, 1)
CALL_OUTCOME = {CallStatus.ANSWERED: "reached", CallStatus.NO_ANSWER: "no_answer",
                CallStatus.BUSY: "no_answer", CallStatus.INVALID_NUMBER: "wrong_number",
                CallStatus.QUEUED: "no_answer"}


@dataclass(frozen=True)
class Arrears:
    overdue: Decimal  # principal + interest + penalty due before today and unpaid
    outstanding_principal: Decimal
    dpd: int
    oldest_due: date | None


def arrears_of(loan: Loan, rows: list[ScheduledInstallment], today: date) -> Arrears:
    """The loan as servicing's money core sees it today: penalty accrued through today (not
    stored — the nightly job does that), so the overdue amount is what settles the arrears
    if paid today."""
    state = load_state(loan, rows)
    if today > state.as_of:
        state, _ = accrue_to(state, today)
    late = [i for i in state.installments if i.due_date < today and i.unpaid_total > 0]
    overdue = sum((i.unpaid_total for i in late), ZERO)
    oldest = min((i.due_date for i in late if i.unpaid_scheduled > 0), default=None)
    return Arrears(to_cents(overdue), to_cents(state.outstanding_principal),
                   (today - oldest).days if oldest else 0, oldest)


def _pds(session: Session, loans: list[Loan]) -> dict[int, float]:
    """Loan id → PD: the nightly inspection's latest score, else the decision's, else
    `DEFAULT_PD` (three queries for the whole list, not three per loan)."""
    ids = [loan.id for loan in loans]
    out: dict[int, float] = {}
    for loan_id, pd_ in session.execute(
            select(DelinquencySnapshot.loan_id, DelinquencySnapshot.model_pd).where(
                DelinquencySnapshot.loan_id.in_(ids), DelinquencySnapshot.model_pd.is_not(None))
            .order_by(DelinquencySnapshot.as_of)):
        out[loan_id] = float(pd_)  # the latest wins
    by_app = {loan.application_id: loan.id for loan in loans
              if loan.id not in out and loan.application_id is not None}
    decided: dict[int, float] = {}
    if by_app:
        for app_id, model in session.execute(
                select(DecisionRecord.application_id, DecisionRecord.model).where(
                    DecisionRecord.application_id.in_(list(by_app)))
                .order_by(DecisionRecord.id)):
            if isinstance(model, dict) and isinstance(model.get("pd"), int | float):
                decided[by_app[app_id]] = float(model["pd"])
    return {i: out.get(i, decided.get(i, DEFAULT_PD)) for i in ids}


def _installments(session: Session, loan_ids: list[int]) -> dict[int, list[ScheduledInstallment]]:
    out: dict[int, list[ScheduledInstallment]] = {i: [] for i in loan_ids}
    for r in session.scalars(select(ScheduledInstallment).where(
            ScheduledInstallment.loan_id.in_(loan_ids))
            .order_by(ScheduledInstallment.loan_id, ScheduledInstallment.number)):
        out[r.loan_id].append(r)
    return out


def _paid_since(session: Session, loan_id: int, since: datetime, by: date) -> Decimal:
    """Payments received after ``since`` (a promise counts what came after it was made) and
    paid on or before ``by``."""
    total = session.scalar(select(func.coalesce(func.sum(LoanRepayment.amount), 0)).where(
        LoanRepayment.loan_id == loan_id, LoanRepayment.created_at > since,
        LoanRepayment.paid_on <= by))
    return to_cents(Decimal(total))


def promise_status(session: Session, contact: CollectionContact, today: date) -> str:
    """kept | broken | open for a promise-to-pay contact."""
    paid = _paid_since(session, contact.loan_id, contact.at, contact.promise_date)
    if paid >= (contact.promise_amount or ZERO):
        return "kept"
    return "broken" if today > contact.promise_date else "open"


def open_promises(session: Session, as_of: date) -> dict[int, date]:
    """Loan id → promised date of every promise still open on ``as_of``: what the nightly
    inspection reads so a borrower who promised is not chased again before the date."""
    out: dict[int, date] = {}
    rows = session.scalars(select(CollectionContact).where(
        CollectionContact.outcome == "promise_to_pay",
        CollectionContact.promise_date >= as_of).order_by(CollectionContact.id))
    for c in rows:
        if promise_status(session, c, as_of) == "open":
            out[c.loan_id] = c.promise_date
    return out


def worklist(*, session: Session, today: date | None = None,
             limit: int = 200) -> list[dict[str, Any]]:
    """Overdue active loans and loans with an open task of the nightly run (a GPS alert on a
    current loan, say), highest expected loss first (then DPD, then loan id)."""
    today = today or lender_today()
    overdue_ids = set(session.scalars(
        select(ScheduledInstallment.loan_id).join(Loan, Loan.id == ScheduledInstallment.loan_id)
        .where(Loan.status == "active", ScheduledInstallment.due_date < today,
               ScheduledInstallment.settled_on.is_(None))
        .group_by(ScheduledInstallment.loan_id)))
    tasks: dict[int, list[str]] = {}
    for loan_id, action in session.execute(
            select(PostloanAction.loan_id, PostloanAction.action).join(
                Loan, Loan.id == PostloanAction.loan_id)
            .where(Loan.status == "active", PostloanAction.action.in_(WORKED_ACTIONS),
                   PostloanAction.status == "queued")):
        tasks.setdefault(loan_id, []).append(action)
    overdue_ids = sorted(overdue_ids | set(tasks))
    if not overdue_ids:
        return []
    rows = _installments(session, overdue_ids)
    loans = list(session.scalars(select(Loan).where(Loan.id.in_(overdue_ids))))
    pds = _pds(session, loans)
    masked = dict(session.execute(select(Customer.id, Customer.id_number_masked).where(
        Customer.id.in_({loan.customer_id for loan in loans}))).all())
    last_contact: dict[int, datetime] = {}
    promises: dict[int, CollectionContact] = {}
    for c in session.scalars(select(CollectionContact).where(
            CollectionContact.loan_id.in_(overdue_ids)).order_by(CollectionContact.id)):
        last_contact[c.loan_id] = c.at
        if c.outcome == "promise_to_pay":
            promises[c.loan_id] = c  # the latest promise
    items = []
    for loan in loans:
        a = arrears_of(loan, rows[loan.id], today)
        if a.overdue <= 0 and loan.id not in tasks:
            continue
        pd_, promise = pds[loan.id], promises.get(loan.id)
        items.append({
            "loan_id": loan.id, "loan_ref": loan.ref, "dpd": a.dpd, "overdue": a.overdue,
            "outstanding_principal": a.outstanding_principal, "pd": round(pd_, 4),
            "expected_loss": to_cents(a.outstanding_principal * Decimal(str(pd_))),
            "customer_id_number_masked": masked[loan.customer_id],
            "promise": _promise_view(session, promise, today) if promise else None,
            "last_contact_at": last_contact.get(loan.id),
            "open_tasks": sorted(set(tasks.get(loan.id, []))),
        })
    items.sort(key=lambda i: (-i["expected_loss"], -i["dpd"], i["loan_id"]))
    return items[:limit]


def _promise_view(session: Session, c: CollectionContact, today: date) -> dict[str, Any]:
    return {"contact_id": c.id, "promise_date": c.promise_date, "amount": c.promise_amount,
            "status": promise_status(session, c, today), "made_at": c.at}


def _contact_view(c: CollectionContact, collectors: dict[int, str]) -> dict[str, Any]:
    return {"id": c.id, "at": c.at, "channel": c.channel, "outcome": c.outcome,
            "promise_date": c.promise_date, "promise_amount": c.promise_amount,
            "note": c.note, "collector": collectors.get(c.collector_id or 0, "outbound call")}


def loan_of(session: Session, loan_id: int) -> Loan:
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id}")
    return loan


def case(*, session: Session, services: Services, loan: Loan,
         today: date | None = None) -> dict[str, Any]:
    """Everything a collector works with, identifiers masked: no ID number, full phone or
    device data."""
    today = today or lender_today()
    rows = _installments(session, [loan.id])[loan.id]
    a = arrears_of(loan, rows, today)
    customer = session.get(Customer, loan.customer_id)
    p = services.store.profile(customer)
    contacts = list(session.scalars(select(CollectionContact).where(
        CollectionContact.loan_id == loan.id).order_by(CollectionContact.id)))
    names = dict(session.execute(select(User.id, User.display_name).where(
        User.id.in_({c.collector_id for c in contacts if c.collector_id}))).all())
    return {
        "loan_id": loan.id, "loan_ref": loan.ref, "status": loan.status,
        "principal": loan.principal, "dpd": a.dpd, "overdue": a.overdue,
        "outstanding_principal": a.outstanding_principal,
        "customer": {"name_masked": masked_name(p.name),
                     "id_number_masked": customer.id_number_masked,
                     "phone_masked": customer.phone_masked, "home_city": p.home_city,
                     "emergency_contacts": contacts_masked(services.store, customer)},
        "schedule": [{"number": r.number, "due_date": r.due_date,
                      "due": to_cents(r.principal_due + r.interest_due),
                      "paid": to_cents(r.principal_paid + r.interest_paid),
                      "penalty": to_cents(r.penalty_charged - r.penalty_paid),
                      "settled_on": r.settled_on} for r in rows],
        "repayments": [{"paid_on": r.paid_on, "amount": r.amount, "source": r.source}
                       for r in session.scalars(select(LoanRepayment).where(
                           LoanRepayment.loan_id == loan.id).order_by(LoanRepayment.id))],
        "contacts": [_contact_view(c, names) for c in contacts],
        "promises": [_promise_view(session, c, today) for c in contacts
                     if c.outcome == "promise_to_pay"],
        "open_tasks": [{"id": t.id, "action": t.action, "as_of": t.as_of, "status": t.status}
                       for t in session.scalars(select(PostloanAction).where(
                           PostloanAction.loan_id == loan.id,
                           PostloanAction.status.in_(["queued", "pending", "failed"]))
                           .order_by(PostloanAction.id))],
    }


def _promised(amount: Decimal | None) -> Decimal:
    """A promised amount as whole cents within `PROMISE_MAX_AMOUNT` (Invalid otherwise): the
    page hands on what was typed, NaN and 1e20 included."""
    if amount is None:
        raise Invalid("promise_amount", "a promise to pay needs a positive amount")
    try:
        cents = money(amount, "promise_amount")
    except ValueError as exc:
        raise Invalid("promise_amount", str(exc)) from None
    if not 0 < cents <= PROMISE_MAX_AMOUNT:
        raise Invalid("promise_amount", f"must be positive and at most {PROMISE_MAX_AMOUNT}")
    return cents


def record_outcome(*, session: Session, loan: Loan, collector: User, outcome: str,
                   note: str = "", promise_date: date | None = None,
                   promise_amount: Decimal | None = None,
                   today: date | None = None) -> CollectionContact:
    """What came of a contact; a promise names a date within `PROMISE_MAX_DAYS` and an
    amount. Closes the loan's queued phone tasks and GPS alerts (the borrower was called
    about them)."""
    today = today or lender_today()
    if outcome not in OUTCOMES:
        raise Invalid("outcome", f"must be one of {', '.join(OUTCOMES)}")
    if outcome == "promise_to_pay":
        if promise_date is None:
            raise Invalid("promise_date", "a promise to pay needs the promised date")
        if not today <= promise_date <= today + timedelta(days=PROMISE_MAX_DAYS):
            raise Invalid("promise_date", f"must be between today and {PROMISE_MAX_DAYS} days "
                                          "from today")
        promise_amount = _promised(promise_amount)
    else:
        promise_date = promise_amount = None
    contact = CollectionContact(loan_id=loan.id, collector_id=collector.id, channel="call",
                                outcome=outcome, promise_date=promise_date,
                                promise_amount=promise_amount, note=note[:500])
    session.add(contact)
    if promise_date is not None:  # what the next nightly inspection's rules read
        now = datetime.now(UTC)
        session.add(FeatureFact(customer_id=loan.customer_id, source="collections",
                                kind="promise_to_pay", event_time=now, uploaded_at=now,
                                value=float((promise_date - EPOCH).days), key=None))
    for task in session.scalars(select(PostloanAction).where(
            PostloanAction.loan_id == loan.id, PostloanAction.action.in_(WORKED_ACTIONS),
            PostloanAction.status == "queued")):
        task.status = "recorded"
    session.commit()
    return contact


def place_call(*, session: Session, services: Services, loan: Loan, collector: User | None,
               script: str = "collector_bridge", key: str | None = None) -> CollectionContact:
    """Ring the borrower through the outbound-call vendor and log the call's result.

    One call per loan at a time (`chedaitong.db.claims`): a collector's double click, two
    collectors on one case, or the nightly phone task while a collector calls — the second
    is refused (Conflict) before anybody's phone rings, and nothing is held meanwhile. ``key``:
    the caller's idempotency key (a phone task's loan and day); else the claim's, one per
    call."""
    customer = session.get(Customer, loan.customer_id)
    phone = services.store.profile(customer).phone

    def ring(claim_key: str):
        try:
            return services.vendor("outbound_call").place(CallRequest(
                case_ref=loan.ref, phone=phone, script=script,
                idempotency_key=key or claim_key))
        except VendorError as exc:
            raise vendor_failed("outbound_call", exc) from None

    claimed, result = claims.once(
        session, f"call:loan:{loan.id}", ring, digest=claims.fingerprint(script, key or ""),
        busy="a call to this borrower is in progress; record its outcome or try again once "
             "it has ended", details={"loan_id": loan.id})
    claims.finish(session, claimed)
    existing = session.scalar(select(CollectionContact).where(
        CollectionContact.vendor_ref == result.call_id))
    if existing is not None:  # a replayed request: the vendor answered with the same call
        session.commit()
        return existing
    contact = CollectionContact(
        loan_id=loan.id, collector_id=collector.id if collector else None,
        channel="outbound_call", outcome=CALL_OUTCOME[result.status], vendor_ref=result.call_id,
        note=f"{result.status.value}, {result.duration_s}s to {mask_phone(phone)}")
    session.add(contact)
    session.commit()
    return contact


def dispatch_phone_tasks(*, session: Session, services: Services, as_of: date) -> dict[str, int]:
    """The worker for the nightly run's queued phone tasks: a reminder call each (idempotent
    per task, so a rerun rings nobody twice). A task of a loan with an open promise is closed
    without a call."""
    promised = open_promises(session, as_of)
    counts = {"called": 0, "skipped_promise": 0, "failed": 0}
    tasks = session.scalars(select(PostloanAction).where(
        PostloanAction.action == "phone_task", PostloanAction.status.in_(["queued", "failed"]),
        PostloanAction.as_of <= as_of).order_by(PostloanAction.id)).all()
    for task in tasks:
        loan = session.get(Loan, task.loan_id)
        if loan.id in promised:
            task.status, task.error = "recorded", "open promise to pay"
            counts["skipped_promise"] += 1
            session.commit()
            continue
        try:
            # keyed by what makes the task unique (loan, day): a rerun rings nobody twice
            contact = place_call(session=session, services=services, loan=loan, collector=None,
                                 script="collection_reminder",
                                 key=f"phone-task-{loan.ref}-{task.as_of.isoformat()}")
        except Exception as exc:  # noqa: BLE001 - one outage must not stop the others
            session.rollback()
            task.status, task.error = "failed", f"{type(exc).__name__}"[:255]
            counts["failed"] += 1
            session.commit()
            continue
        task.status, task.vendor_ref, task.error = "sent", contact.vendor_ref, None
        counts["called"] += 1
        session.commit()
    return counts
