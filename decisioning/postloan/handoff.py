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

Calls go in batches (an SMS gateway's batch send, the agency's placement and update files: tens
of thousands of loans at one call each would not fit a night), every item with its own
idempotency key, answered item by item: one refused item is that item's failure only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from chedaitong.db import Customer
from chedaitong.db.collection import CollectionCaseRow
from chedaitong.db.idset import in_ids
from chedaitong.db.servicing import DelinquencySnapshot, Loan, PostloanAction, ScheduledInstallment
from decisioning.postloan import shutdown

log = logging.getLogger("chedaitong.postloan")

SEND_STATUSES = ("pending", "failed")
BATCH = 2_000  # actions per transaction
CONCURRENCY = 4  # vendor (batch) calls in flight
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
    #: a stage that stopped on an unexpected error (what it had not done is retried next run)
    aborted: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("sent", "in_case", "reconciled", "updated",
                                              "closed", "polled", "closed_by_agency", "failed",
                                              "retried")}


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:255]


def _refusal(vendor: str, item: Any) -> str:
    """An item the vendor refused, worded like a `VendorRejected` of a single call."""
    return f"VendorRejected: {vendor}: {item.code} {item.message}".strip()[:255]


def _owed(s: Any) -> Any:
    """What an installment has unpaid: principal, interest and penalty."""
    return (s.principal_due - s.principal_paid + s.interest_due - s.interest_paid
            + s.penalty_charged - s.penalty_paid)


def _cents(value: Any) -> int:
    return int(Decimal(value or 0) * 100)


def overdue_cents(session: Session, loan_id: int, as_of: date) -> int:
    """What the customer owes past due at `as_of`: principal, interest and penalty unpaid."""
    return overdue_by_loan(session, [loan_id], as_of)[loan_id]


def overdue_by_loan(session: Session, loan_ids: Sequence[int], as_of: date) -> dict[int, int]:
    """`overdue_cents` of many loans (any number: one bind parameter) in one grouped query."""
    if not loan_ids:
        return {}
    s = ScheduledInstallment
    rows = session.execute(
        select(s.loan_id, func.sum(_owed(s)))
        .where(in_ids(s.loan_id, loan_ids), s.due_date < as_of).group_by(s.loan_id)).all()
    got = {lid: _cents(v) for lid, v in rows}
    return {lid: got.get(lid, 0) for lid in loan_ids}


def _overdue_by_action(session: Session, action_ids: Sequence[int]) -> dict[int, int]:
    """Each action's loan's overdue amount at the action's own day, in one grouped query
    (a retried action of an earlier day is handed over with that day's figures)."""
    if not action_ids:
        return {}
    s, a = ScheduledInstallment, PostloanAction
    rows = session.execute(
        select(a.id, func.sum(_owed(s)))
        .outerjoin(s, (s.loan_id == a.loan_id) & (s.due_date < a.as_of))
        .where(in_ids(a.id, action_ids)).group_by(a.id)).all()
    return {aid: _cents(v) for aid, v in rows}


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


_Planned = tuple[str, Callable[..., Any], tuple[Any, ...]]  # (vendor, function, arguments)


def _submit(pool: ThreadPoolExecutor, planned: list[_Planned]) -> list[_Call]:
    """Submit the planned calls, the first to each vendor alone: after an outage it is the
    breaker's probe, and the calls behind it see the circuit it decided (closed again, or
    open: fail fast) instead of being refused while it is in flight."""
    calls: list[_Call | None] = [None] * len(planned)
    firsts: dict[str, int] = {}
    for k, (vendor, _, _) in enumerate(planned):
        firsts.setdefault(vendor, k)
    for k in firsts.values():
        calls[k] = _call(pool, planned[k][1], *planned[k][2])
    wait([c[0] for c in calls if c is not None])
    for k, (_, fn, args) in enumerate(planned):
        if calls[k] is None:
            calls[k] = _call(pool, fn, *args)
    return [c for c in calls if c is not None]


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[k:k + size] for k in range(0, len(items), size)]


def send_pending(engine: Engine, as_of: date, vendors: Any, store: Any,
                 out: Delivery | None = None, *, batch: int = BATCH,
                 concurrency: int = CONCURRENCY) -> Delivery:
    """Send every pending action of `as_of` and every failed one up to it, oldest first.

    In transactions of `batch` actions: their loans, customers, cases and overdue amounts are
    read in a few set-based queries, the vendor batch calls run `concurrency` at a time, and
    the transaction commits once. A crash loses at most the batch in flight, whose idempotency
    keys (as_of, loan, action) make its resend harmless."""
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
    from vendors.interfaces import (
        COLLECTION_BATCH_MAX,
        SMS_BATCH_MAX,
        CollectionCase,
        SmsMessage,
    )

    with Session(engine) as session:
        acts = session.scalars(select(PostloanAction).where(in_ids(PostloanAction.id, ids))
                               .order_by(PostloanAction.as_of, PostloanAction.id)).all()
        loan_ids = sorted({a.loan_id for a in acts})
        loans = {x.id: x for x in session.scalars(select(Loan).where(in_ids(Loan.id, loan_ids)))}
        cases = {c.loan_id: c for c in session.scalars(select(CollectionCaseRow).where(
            in_ids(CollectionCaseRow.loan_id, loan_ids), CollectionCaseRow.status == "open"))}
        later: list[PostloanAction] = []  # a second collection action of a loan in this batch
        assigning: set[int] = set()
        sending: list[PostloanAction] = []
        for act in acts:
            if act.action == COLLECTION:
                if act.loan_id in cases:  # already in collection: a state, nothing to send
                    _in_case(act, cases[act.loan_id].case_ref, as_of, out)
                    continue
                if act.loan_id in assigning:
                    later.append(act)
                    continue
                assigning.add(act.loan_id)
            sending.append(act)
        # only what is sent needs a balance and a decrypted profile
        owed = _overdue_by_action(session, [a.id for a in sending if a.action == COLLECTION])
        customers = {x.id: x for x in session.scalars(select(Customer).where(
            in_ids(Customer.id, {loans[a.loan_id].customer_id for a in sending})))}
        sms: list[tuple[PostloanAction, Any]] = []
        placements: list[tuple[PostloanAction, Any]] = []
        for act in sending:
            loan = loans[act.loan_id]
            key = f"postloan-{act.as_of.isoformat()}-{loan.id}-{act.action}"
            try:
                profile = store.profile(customers[loan.customer_id])
            except Exception as exc:
                _failed(act, _error(exc), loan.ref, out)
                continue
            if act.action == COLLECTION:
                placements.append((act, CollectionCase(
                    loan_id=loan.ref, name=profile.name, id_number=profile.id_number,
                    phone=profile.phone, overdue_amount_cents=owed[act.id],
                    days_past_due=act.dpd, bucket=act.bucket, idempotency_key=key)))
            else:
                sms.append((act, SmsMessage(
                    phone=profile.phone, template="postloan_reminder",
                    params=(("loan", loan.ref), ("dpd", str(act.dpd))), idempotency_key=key)))
        groups = ([("sms", part) for part in _batches(sms, SMS_BATCH_MAX)]
                  + [("case", part) for part in _batches(placements, COLLECTION_BATCH_MAX)])
        calls = _submit(pool, [
            ("sms", vendors.sms.send_batch, ([item for _, item in part],)) if kind == "sms"
            else ("collection", vendors.collection.assign_batch, ([item for _, item in part],))
            for kind, part in groups])
        for (kind, part), call in zip(groups, calls, strict=True):
            try:
                answers = _result(call)
            except Exception as exc:  # a vendor outage must not stop the other sends
                for act, _ in part:
                    _failed(act, _error(exc), loans[act.loan_id].ref, out)
                continue
            for (act, _), answer in zip(part, answers, strict=True):
                ref = loans[act.loan_id].ref
                if kind == "sms":
                    if not answer.ok:
                        _failed(act, _refusal("sms", answer), ref, out)
                        continue
                    status = "sent"
                else:
                    found = _placed(vendors, ref, answer)
                    if found is None:
                        _failed(act, _refusal("collection", answer), ref, out)
                        continue
                    status, case_ref = found
                    cases[act.loan_id] = CollectionCaseRow(
                        loan_id=act.loan_id, case_ref=case_ref, agency=answer.agency,
                        status="open", opened_on=act.as_of, reconciled=status == "reconciled",
                        dpd=act.dpd, overdue_amount=Decimal(owed[act.id]) / 100,
                        synced_on=act.as_of, polled_on=as_of)
                    session.add(cases[act.loan_id])
                act.status, act.error, act.vendor_ref = status, None, (
                    answer.ref if kind == "sms" else cases[act.loan_id].case_ref)
                setattr(out, status, getattr(out, status) + 1)
                out.retried += act.as_of < as_of
        first = {a.loan_id: a for a in reversed(sending)}
        for act in later:  # its loan's first action of the batch decided it
            if act.loan_id in cases:
                _in_case(act, cases[act.loan_id].case_ref, as_of, out)
            else:  # that one failed: so does this, and the next run retries both
                prior = first.get(act.loan_id)
                act.status = "failed"
                act.error = (prior.error if prior is not None and prior.error
                             else "not sent: an earlier action of this loan failed")
        session.commit()


def _placed(vendors: Any, loan_ref: str, answer: Any) -> tuple[str, str] | None:
    """(status, case ref) of a placement item: ``sent`` (a new case), ``reconciled`` (the
    agency holds the loan's open case already), or None (refused: the item failed)."""
    if answer.ok:
        return "sent", answer.ref
    if answer.code not in CASE_EXISTS_CODES:
        return None
    if answer.ref:  # the agency named the open case
        return "reconciled", answer.ref
    try:  # it did not (a key reused with other figures): look the case up
        found = vendors.collection.open_case(loan_ref)
    except Exception:
        return None
    return None if found is None else ("reconciled", found.case_id)


def _in_case(act: PostloanAction, case_ref: str, as_of: date, out: Delivery) -> None:
    act.status, act.error, act.vendor_ref = "in_case", None, case_ref
    out.in_case += 1
    out.retried += act.as_of < as_of


def _failed(act: PostloanAction, error: str, loan_ref: str, out: Delivery) -> None:
    act.status, act.error = "failed", error
    out.failed += 1
    out.failures.append({"loan": loan_ref, "action": act.action, "as_of": act.as_of.isoformat(),
                         "error": act.error})


def sync_cases(engine: Engine, as_of: date, vendors: Any, out: Delivery | None = None, *,
               concurrency: int = CONCURRENCY, poll: int = POLL_PER_NIGHT) -> Delivery:
    """Bring every open case up to `as_of`: withdraw it when the loan is cured or settled,
    otherwise push the new balance and DPD when they differ from what the agency has (in
    batch updates); and ask the agency the status of up to `poll` other open cases not asked
    today (least recently asked first), closing those it closed itself.

    One query finds the open cases and one their balances (a second run of the day finds no
    figure changed, and no case left to poll); only those are called, `concurrency` calls at a
    time, and written in one commit."""
    from vendors.interfaces import COLLECTION_BATCH_MAX, CaseUpdate

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
        withdraws: list[tuple[CollectionCaseRow, str, str]] = []
        updates: list[tuple[CollectionCaseRow, str, int, Any]] = []
        for case, ref, status, dpd, bucket in rows:
            if status != "active" or dpd == 0:
                withdraws.append((case, ref, "settled" if status != "active" else "cured"))
            elif dpd is not None and (dpd, owed[case.loan_id]) != (
                    case.dpd, int(case.overdue_amount * 100)):
                updates.append((case, ref, dpd, CaseUpdate(
                    case.case_ref, owed[case.loan_id], dpd, bucket,
                    f"case-{case.case_ref}-{as_of}")))
            elif case.sync_error is not None:  # the agency has these figures after all
                case.sync_error = None
        called = {c.id for c, *_ in withdraws} | {c.id for c, *_ in updates}
        due = sorted((r for r in rows if r[0].id not in called and r[2] == "active"
                      and (r[0].polled_on is None or r[0].polled_on < as_of)),
                     key=lambda r: (r[0].polled_on is not None, r[0].polled_on or as_of,
                                    r[0].id))[:poll]
        collection = vendors.collection
        update_parts = _batches(updates, COLLECTION_BATCH_MAX)
        planned: list[_Planned] = [("collection", _withdraw_call, (collection, c.case_ref, reason))
                                   for c, _, reason in withdraws]
        planned += [("collection", collection.update_batch, ([u for *_, u in part],))
                    for part in update_parts]
        planned += [("collection", collection.status, (case.case_ref,)) for case, *_ in due]
        with _pool(concurrency) as pool:
            calls = _submit(pool, planned)
        done = 0
        for (case, ref, reason), call in zip(withdraws, calls, strict=False):
            try:
                _result(call)
            except Exception as exc:  # retried by the next run: the loan is still cured
                _sync_failed(case, ref, _error(exc), as_of, out)
                continue
            case.polled_on = as_of  # its answer carries the agency's status
            case.status, case.closed_on, case.close_reason = "closed", as_of, reason
            case.synced_on, case.sync_error = max(case.synced_on, as_of), None
            out.closed += 1
        done += len(withdraws)
        for part, call in zip(update_parts, calls[done:done + len(update_parts)], strict=True):
            try:
                answers = _result(call)
            except Exception as exc:  # retried by the next run: the figures still differ
                for case, ref, *_ in part:
                    _sync_failed(case, ref, _error(exc), as_of, out)
                continue
            for (case, ref, dpd, _), answer in zip(part, answers, strict=True):
                if answer.status in AGENCY_CLOSED:  # the agency had closed it
                    case.polled_on = as_of
                    _closed_by_agency(case, as_of, str(answer.status), out)
                elif not answer.ok:
                    _sync_failed(case, ref, _refusal("collection", answer), as_of, out)
                else:
                    case.polled_on = as_of
                    case.dpd, case.overdue_amount = dpd, Decimal(owed[case.loan_id]) / 100
                    case.synced_on, case.sync_error = max(case.synced_on, as_of), None
                    out.updated += 1
        done += len(update_parts)
        for (case, *_), call in zip(due, calls[done:], strict=True):
            try:
                got = str(_result(call).status)
            except Exception:  # an outage is a gap: asked again on a later night
                continue
            case.polled_on = as_of
            out.polled += 1
            if got in AGENCY_CLOSED:
                _closed_by_agency(case, as_of, got, out)
        session.commit()
    return out


def _withdraw_call(collection: Any, case_ref: str, reason: str) -> Any:
    return collection.withdraw(case_ref, reason=reason,
                               idempotency_key=f"case-{case_ref}-withdraw")


def _sync_failed(case: CollectionCaseRow, loan_ref: str, error: str, as_of: date,
                 out: Delivery) -> None:
    case.sync_error = error
    out.failed += 1
    out.failures.append({"loan": loan_ref, "action": "case_sync", "as_of": as_of.isoformat(),
                         "case": case.case_ref, "error": error})


def _closed_by_agency(case: CollectionCaseRow, as_of: date, status: str, out: Delivery) -> None:
    """The agency closed the case itself: ours closes too (the loan, if still overdue, is
    handed over afresh by a later night's collection action)."""
    case.status, case.closed_on, case.close_reason = "closed", as_of, status[:16]
    case.sync_error = None
    out.closed_by_agency += 1


#: Hand-offs still owed listed by name in a run's report (and its log line); past it only
#: counted — a vendor outage at a million loans owes tens of thousands.
FAILED_LISTED = 200


def failed_sends(engine: Engine, as_of: date, *, limit: int = FAILED_LISTED
                 ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The hand-offs still owed to a vendor at the end of `as_of`'s run, as stored (for the
    run report): failed actions of that day or earlier, open cases whose sync failed — the
    first `limit` of them (loan ref order), and how many there are per action."""
    with Session(engine) as session:
        failed = (PostloanAction.as_of <= as_of, PostloanAction.status == "failed")
        unsynced = (CollectionCaseRow.status == "open", CollectionCaseRow.sync_error.is_not(None))
        counts = {a: n for a, n in session.execute(
            select(PostloanAction.action, func.count()).where(*failed)
            .group_by(PostloanAction.action).order_by(PostloanAction.action))}
        cases = session.scalar(select(func.count()).select_from(CollectionCaseRow)
                               .where(*unsynced)) or 0
        if cases:
            counts["case_sync"] = cases
        acts = session.execute(
            select(Loan.ref, PostloanAction.action, PostloanAction.as_of, PostloanAction.error)
            .join(Loan, Loan.id == PostloanAction.loan_id).where(*failed)
            .order_by(Loan.ref, PostloanAction.action).limit(limit)).all()
        left = limit - len(acts)
        synced = session.execute(
            select(Loan.ref, CollectionCaseRow.case_ref, CollectionCaseRow.sync_error)
            .join(Loan, Loan.id == CollectionCaseRow.loan_id).where(*unsynced)
            .order_by(Loan.ref).limit(left)).all() if left > 0 else []
    listed = ([{"loan": r, "action": a, "as_of": d.isoformat(), "error": e}
               for r, a, d, e in acts]
              + [{"loan": r, "action": "case_sync", "as_of": as_of.isoformat(), "case": c,
                  "error": e} for r, c, e in synced])
    return listed, counts


def deliver(engine: Engine, as_of: date, vendors: Any, store: Any) -> Delivery:
    """The day's hand-offs: actions first (new cases open), then every open case brought up
    to the day (so a case opened from a retried older action gets today's figures).

    A stage that stops on an unexpected error (a bug, the database gone) does not fail the
    day: it is logged and listed in `Delivery.aborted`, the day's actions it left ``pending``
    become ``failed`` (listed, retried by the next run), and the other stage still runs."""
    out = Delivery()
    for stage in ("send", "case_sync"):
        try:
            if stage == "send":
                send_pending(engine, as_of, vendors, store, out)
            else:
                sync_cases(engine, as_of, vendors, out)
        except shutdown.Interrupted:
            raise
        except Exception as exc:
            log.exception("post-loan %s stage of %s stopped", stage, as_of)
            out.failed += 1
            out.aborted.append({"loan": None, "action": f"{stage}_stage",
                                "as_of": as_of.isoformat(), "error": _error(exc)})
            if stage == "send":
                _fail_pending(engine, as_of, f"not sent: the send stage stopped ({_error(exc)})")
    return out


def _fail_pending(engine: Engine, as_of: date, error: str) -> None:
    """The day's actions still pending become failed: the next run retries them."""
    a = PostloanAction
    try:
        with Session(engine) as session:
            session.execute(update(a).where(a.as_of == as_of, a.status == "pending")
                            .values(status="failed", error=error[:255]))
            session.commit()
    except Exception:  # the database itself is gone: the day's report says the stage stopped
        log.exception("could not mark the unsent actions of %s failed", as_of)
