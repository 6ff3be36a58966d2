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

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
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
BATCH = 500  # actions per transaction
CONCURRENCY = 8  # vendor calls in flight
COLLECTION = "outsourced_collection"
#: The agency already holds the case: reconcile by looking it up instead of failing.
CASE_EXISTS_CODES = {"CASE_EXISTS", "IDEMPOTENCY_KEY_REUSED"}
#: Open cases asked for their status per night (least recently asked first): an agency closes
#: cases itself (recovered, returned) and does not call back; bounded so a large book's polls
#: spread over nights instead of lengthening one. A poll that fails is a gap, not a failure.
POLL_PER_NIGHT = 2_000
#: What an agency's case status means for our case: still open, or closed with this reason.
AGENCY_CLOSED = {"recovered", "returned", "withdrawn"}


@dataclass
class Delivery:
    """What one run's hand-offs did (calls made) and what is still owed to a vendor."""

    sent: int = 0  # vendor calls that created something: SMS, new case
    in_case: int = 0  # collection asked for a loan already in collection: nothing sent
    reconciled: int = 0  # the agency had the case already (409): now tracked
    updated: int = 0  # open cases told their new balance / DPD
    closed: int = 0  # cases withdrawn: cured or settled
    polled: int = 0  # open cases whose status the agency was asked
    closed_by_agency: int = 0  # cases the agency had closed (recovered, returned)
    failed: int = 0  # calls that failed this run (retried by the next run)
    retried: int = 0  # failed actions of earlier days sent again by this run
    failures: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("sent", "in_case", "reconciled", "updated",
                                              "closed", "polled", "closed_by_agency", "failed",
                                              "retried")}


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


def overdue_by_loan(session: Session, loan_ids: list[int], as_of: date) -> dict[int, int]:
    """`overdue_cents` of many loans in one grouped query."""
    if not loan_ids:
        return {}
    s = ScheduledInstallment
    rows = session.execute(
        select(s.loan_id, func.sum(s.principal_due - s.principal_paid + s.interest_due
                                   - s.interest_paid + s.penalty_charged - s.penalty_paid))
        .where(s.loan_id.in_(loan_ids), s.due_date < as_of).group_by(s.loan_id)).all()
    got = {lid: int(Decimal(v) * 100) for lid, v in rows}
    return {lid: got.get(lid, 0) for lid in loan_ids}


def _pool(concurrency: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="handoff")


_Call = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def _call(pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Call:
    return pool.submit(fn, *args, **kwargs), fn, args, kwargs


def _result(call: _Call) -> Any:
    """The call's answer; a call refused by a half-open breaker (its probe was another
    call in flight) is made once more, now that the probe has decided."""
    from vendors.errors import CircuitOpen

    future, fn, args, kwargs = call
    try:
        return future.result()
    except CircuitOpen:
        return fn(*args, **kwargs)


def send_pending(engine: Engine, as_of: date, vendors: Any, store: Any,
                 out: Delivery | None = None, *, batch: int = BATCH,
                 concurrency: int = CONCURRENCY) -> Delivery:
    """Send every pending action of `as_of` and every failed one up to it, oldest first.

    In batches: the batch's loans, customers, cases and overdue amounts are read in a few
    queries, the vendor calls run `concurrency` at a time (they wait on the network, and a
    real gateway's latency × tens of thousands of loans would not fit a night serially), and
    the batch commits once. A crash loses at most the batch in flight, whose idempotency keys
    (as_of, loan, action) make its resend harmless."""
    out = out or Delivery()
    with Session(engine) as session:
        ids = list(session.scalars(
            select(PostloanAction.id)
            .where(PostloanAction.as_of <= as_of, PostloanAction.status.in_(SEND_STATUSES),
                   (PostloanAction.as_of == as_of) | (PostloanAction.status == "failed"))
            .order_by(PostloanAction.as_of, PostloanAction.id)))
    if not ids:
        return out
    with _pool(concurrency) as pool:
        for start in range(0, len(ids), batch):
            shutdown.check()  # SIGTERM: every committed batch stays committed
            _send_batch(engine, ids[start:start + batch], as_of, vendors, store, pool, out)
    return out


def _send_batch(engine: Engine, ids: list[int], as_of: date, vendors: Any, store: Any,
                pool: ThreadPoolExecutor, out: Delivery) -> None:
    from vendors.interfaces import CollectionCase, SmsMessage

    with Session(engine) as session:
        acts = session.scalars(select(PostloanAction).where(PostloanAction.id.in_(ids))
                               .order_by(PostloanAction.as_of, PostloanAction.id)).all()
        loan_ids = sorted({a.loan_id for a in acts})
        loans = {x.id: x for x in session.scalars(select(Loan).where(Loan.id.in_(loan_ids)))}
        customers = {x.id: x for x in session.scalars(select(Customer).where(
            Customer.id.in_({x.customer_id for x in loans.values()})))}
        cases = {c.loan_id: c for c in session.scalars(select(CollectionCaseRow).where(
            CollectionCaseRow.loan_id.in_(loan_ids), CollectionCaseRow.status == "open"))}
        owed: dict[tuple[date, int], int] = {}
        for day in {a.as_of for a in acts if a.action == COLLECTION}:
            wanted = [a.loan_id for a in acts if a.action == COLLECTION and a.as_of == day]
            owed.update({(day, k): v for k, v in overdue_by_loan(session, wanted, day).items()})
        jobs: list[tuple[PostloanAction, _Call]] = []
        later: list[PostloanAction] = []  # a second collection action of a loan in this batch
        assigning: set[int] = set()
        for act in acts:
            loan = loans[act.loan_id]
            key = f"postloan-{act.as_of.isoformat()}-{loan.id}-{act.action}"
            if act.action == COLLECTION:
                if loan.id in cases:  # already in collection: a state, nothing to send
                    act.status, act.error, act.vendor_ref = "in_case", None, cases[
                        loan.id].case_ref
                    out.in_case += 1
                    out.retried += act.as_of < as_of
                    continue
                if loan.id in assigning:
                    later.append(act)
                    continue
                assigning.add(loan.id)
            try:
                profile = store.profile(customers[loan.customer_id])
            except Exception as exc:
                _failed(session, act, exc, out)
                continue
            if act.action == COLLECTION:
                case = CollectionCase(
                    loan_id=loan.ref, name=profile.name, id_number=profile.id_number,
                    phone=profile.phone, overdue_amount_cents=owed[(act.as_of, loan.id)],
                    days_past_due=act.dpd, bucket=act.bucket, idempotency_key=key)
                jobs.append((act, _call(pool, _assign_call, vendors, case)))
            else:
                msg = SmsMessage(phone=profile.phone, template="postloan_reminder",
                                 params=(("loan", loan.ref), ("dpd", str(act.dpd))),
                                 idempotency_key=key)
                jobs.append((act, _call(pool, vendors.sms.send, msg)))
            if len(jobs) == 1:
                # the batch's first call goes alone: after an outage it is the breaker's
                # probe, and the calls behind it see the circuit it decided (closed again,
                # or open: fail fast) instead of being refused while it is in flight
                wait([jobs[0][1][0]])
        for act, call in jobs:
            try:
                got = _result(call)
            except Exception as exc:  # a vendor outage must not stop the other sends
                _failed(session, act, exc, out)
                continue
            if act.action == COLLECTION:
                case_ref, agency, status = got
                cases[act.loan_id] = CollectionCaseRow(
                    loan_id=act.loan_id, case_ref=case_ref, agency=agency, status="open",
                    opened_on=act.as_of, reconciled=status == "reconciled", dpd=act.dpd,
                    overdue_amount=Decimal(owed[(act.as_of, act.loan_id)]) / 100,
                    synced_on=act.as_of, polled_on=as_of)
                session.add(cases[act.loan_id])
                act.vendor_ref = case_ref
            else:
                act.vendor_ref, status = got.message_id, "sent"
            act.status, act.error = status, None
            setattr(out, status, getattr(out, status) + 1)
            out.retried += act.as_of < as_of
        first = {a.loan_id: a for a, _ in reversed(jobs)}
        for act in later:  # its loan's first action of the batch decided it
            if act.loan_id in cases:
                act.status, act.error, act.vendor_ref = "in_case", None, cases[
                    act.loan_id].case_ref
                out.in_case += 1
                out.retried += act.as_of < as_of
            else:  # that one failed: so does this, and the next run retries both
                prior = first.get(act.loan_id)
                act.status = "failed"
                act.error = (prior.error if prior is not None and prior.error
                             else "not sent: an earlier action of this loan failed")
        session.commit()


def _failed(session: Session, act: PostloanAction, exc: Exception, out: Delivery) -> None:
    act.status, act.error = "failed", _error(exc)
    out.failed += 1
    out.failures.append(_failure(session, act))


def _assign_call(vendors: Any, case: Any) -> tuple[str, str | None, str]:
    """Hand the loan over; a CASE_EXISTS is reconciled by looking the open case up."""
    from vendors.errors import VendorRejected

    try:
        got = vendors.collection.assign(case)
        return got.case_id, got.agency, "sent"
    except VendorRejected as exc:
        if exc.code not in CASE_EXISTS_CODES:
            raise
        found = vendors.collection.open_case(case.loan_id)
        if found is None:  # closed at the agency in between: the next run assigns afresh
            raise
        return found.case_id, None, "reconciled"


def _update_call(vendors: Any, case_ref: str, **figures: Any) -> str | None:
    """Push new figures; None while the case stays open, else the agency's closing status
    (a case it closed meanwhile answers ``409 CASE_CLOSED``: its status is looked up)."""
    from vendors.errors import VendorRejected

    try:
        got = str(vendors.collection.update(case_ref, **figures).status)
        return got if got in AGENCY_CLOSED else None
    except VendorRejected as exc:
        if exc.code != "CASE_CLOSED":
            raise
        return str(vendors.collection.status(case_ref).status)


def sync_cases(engine: Engine, as_of: date, vendors: Any, out: Delivery | None = None, *,
               concurrency: int = CONCURRENCY, poll: int = POLL_PER_NIGHT) -> Delivery:
    """Bring every open case up to `as_of`: withdraw it when the loan is cured or settled,
    otherwise push the new balance and DPD when they differ from what the agency has; and ask
    the agency the status of up to `poll` other open cases not asked today (least recently
    asked first), closing those it closed itself.

    One query finds the cases whose figures changed (a second run of the day finds none, and
    no case left to poll); only those are called, `concurrency` at a time, and written in one
    commit."""
    out = out or Delivery()
    d = DelinquencySnapshot
    with Session(engine) as session:
        rows = session.execute(
            select(CollectionCaseRow, Loan.ref, Loan.status, d.dpd, d.bucket)
            .join(Loan, Loan.id == CollectionCaseRow.loan_id)
            .outerjoin(d, (d.loan_id == CollectionCaseRow.loan_id) & (d.as_of == as_of))
            .where(CollectionCaseRow.status == "open", CollectionCaseRow.opened_on <= as_of)
            .order_by(CollectionCaseRow.id)).all()
        if not rows:
            return out
        owed = overdue_by_loan(session, [r[0].loan_id for r in rows], as_of)
        jobs = []
        with _pool(concurrency) as pool:
            for case, ref, status, dpd, bucket in rows:
                if status != "active" or dpd == 0:
                    reason = "settled" if status != "active" else "cured"
                    call = _call(pool, vendors.collection.withdraw, case.case_ref, reason=reason,
                                 idempotency_key=f"case-{case.case_ref}-withdraw")
                    jobs.append((case, ref, ("close", reason), call))
                elif dpd is not None and (dpd, owed[case.loan_id]) != (
                        case.dpd, int(case.overdue_amount * 100)):
                    call = _call(
                        pool, _update_call, vendors, case.case_ref,
                        overdue_amount_cents=owed[case.loan_id], days_past_due=dpd,
                        bucket=bucket, idempotency_key=f"case-{case.case_ref}-{as_of}")
                    jobs.append((case, ref, ("update", dpd), call))
                elif case.sync_error is not None:  # the agency has these figures after all
                    case.sync_error = None
                if len(jobs) == 1:  # the first call alone: the breaker's probe (see above)
                    wait([jobs[0][3][0]])
            called = {case.id for case, *_ in jobs}
            due = sorted((r for r in rows if r[0].id not in called and r[2] == "active"
                          and (r[0].polled_on is None or r[0].polled_on < as_of)),
                         key=lambda r: (r[0].polled_on is not None, r[0].polled_on or as_of,
                                        r[0].id))[:poll]
            polls = [(case, _call(pool, vendors.collection.status, case.case_ref))
                     for case, *_ in due]
            for case, call in polls:
                try:
                    got = str(_result(call).status)
                except Exception:  # an outage is a gap: asked again on a later night
                    continue
                case.polled_on = as_of
                out.polled += 1
                if got in AGENCY_CLOSED:
                    _closed_by_agency(case, as_of, got, out)
            for case, ref, (what, arg), call in jobs:
                try:
                    answer = _result(call)
                except Exception as exc:  # retried by the next run: the figures still differ
                    case.sync_error = _error(exc)
                    out.failed += 1
                    out.failures.append({"loan": ref, "action": "case_sync",
                                         "as_of": as_of.isoformat(), "case": case.case_ref,
                                         "error": case.sync_error})
                    continue
                case.polled_on = as_of  # its answer carries the agency's status
                if what == "update" and answer is not None:  # the agency had closed it
                    _closed_by_agency(case, as_of, answer, out)
                    continue
                if what == "close":
                    case.status, case.closed_on, case.close_reason = "closed", as_of, arg
                    out.closed += 1
                else:
                    case.dpd, case.overdue_amount = arg, Decimal(owed[case.loan_id]) / 100
                    out.updated += 1
                case.synced_on, case.sync_error = max(case.synced_on, as_of), None
        session.commit()
    return out


def _closed_by_agency(case: CollectionCaseRow, as_of: date, status: str, out: Delivery) -> None:
    """The agency closed the case itself: ours closes too (the loan, if still overdue, is
    handed over afresh by a later night's collection action)."""
    case.status, case.closed_on, case.close_reason = "closed", as_of, status[:16]
    case.sync_error = None
    out.closed_by_agency += 1


def _failure(session: Session, act: PostloanAction) -> dict[str, Any]:
    ref = session.scalar(select(Loan.ref).where(Loan.id == act.loan_id))
    return {"loan": ref, "action": act.action, "as_of": act.as_of.isoformat(),
            "error": act.error}


def failed_sends(engine: Engine, as_of: date) -> list[dict[str, Any]]:
    """The hand-offs still owed to a vendor at the end of `as_of`'s run, as stored (for the
    run report): failed actions of that day or earlier, open cases whose sync failed."""
    with Session(engine) as session:
        acts = session.execute(
            select(Loan.ref, PostloanAction.action, PostloanAction.as_of, PostloanAction.error)
            .join(Loan, Loan.id == PostloanAction.loan_id)
            .where(PostloanAction.as_of <= as_of, PostloanAction.status == "failed")
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
