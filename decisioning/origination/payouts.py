"""Paying the dealer: the voucher lets the car go at once, the money follows by bank transfer.

When the disbursement review approves, `instruct` (called by `vouchers.issue`) creates one
payout instruction (amount, dealer account, value date) in the same transaction as the
voucher — unique per application, so a second approval or a retried request creates nothing.
Instructions leave either in a bank transfer file (`export_file`, CSV the bank's corporate
channel imports) and come back settled or failed in the bank's status file (`reconcile`), or
through the payment vendor (`send`, then `sync` reads settlement back; one idempotency key per
attempt, so a retried call pays once). A failed payout is re-queued by hand (`retry`);
nothing here issues, changes or reissues a voucher.
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.clock import lender_today
from chedaitong.crypto import DataCipher
from chedaitong.csvtext import UnreadableCsv, read_rows
from chedaitong.db import Application, Dealer
from chedaitong.db.origination import Voucher
from chedaitong.db.partners import DealerPayout
from chedaitong.errors import Conflict, Invalid, NotFound
from decisioning.origination import dealers
from vendors.errors import VendorError
from vendors.interfaces import TransferRequest, TransferStatus

PENDING, EXPORTED, SENT, PAID, FAILED = "pending", "exported", "sent", "paid", "failed"
STATUSES = (PENDING, EXPORTED, SENT, PAID, FAILED)
FILE_HEADER = ("payout_ref", "value_date", "amount", "currency", "bank_name", "account_name",
               "account_number", "remark")
STATUS_HEADER = ("payout_ref", "status", "bank_ref", "reason")
NO_ACCOUNT = "no approved dealer account (none on file, or awaiting a second admin)"


def instruct(*, session: Session, application: Application, voucher: Voucher,
             value_date: date | None = None) -> DealerPayout:
    """The payout of the voucher's amount to the application's dealer (flushed; the caller
    commits it with the approval). An existing instruction is returned as it is."""
    existing = session.scalar(select(DealerPayout).where(
        DealerPayout.application_id == application.id))
    if existing is not None:
        return existing
    payout = DealerPayout(ref=f"PO{application.id:08d}{secrets.token_hex(2).upper()}",
                          application_id=application.id, voucher_id=voucher.id,
                          dealer_id=voucher.dealer_id, amount=voucher.amount,
                          value_date=value_date or lender_today(), status=PENDING)
    session.add(payout)
    session.flush()
    return payout


def of_application(session: Session, application_id: int) -> DealerPayout | None:
    return session.scalar(select(DealerPayout).where(
        DealerPayout.application_id == application_id))


def get(session: Session, payout_id: int) -> DealerPayout:
    payout = session.get(DealerPayout, payout_id)
    if payout is None:
        raise NotFound(f"no payout {payout_id}")
    return payout


def listing(session: Session, status: str | None = None) -> list[DealerPayout]:
    query = select(DealerPayout)
    if status:
        query = query.where(DealerPayout.status == status)
    return list(session.scalars(query.order_by(DealerPayout.id.desc()).limit(500)))


def counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(DealerPayout.status, func.count())
                           .group_by(DealerPayout.status)).all()
    return {s: 0 for s in STATUSES} | dict(rows)


def view(session: Session, payout: DealerPayout) -> dict[str, Any]:
    """What the back office sees: never the clear account number."""
    app = session.get(Application, payout.application_id)
    dealer = session.get(Dealer, payout.dealer_id)
    agreement = dealers.agreement_of(session, dealer.id)
    voucher = session.get(Voucher, payout.voucher_id)
    return {"id": payout.id, "ref": payout.ref, "application_id": app.id,
            "application_ref": app.ref, "dealer_code": dealer.code, "dealer_name": dealer.name,
            "account_masked": agreement.account_masked if agreement else None,
            "amount": payout.amount, "value_date": payout.value_date, "status": payout.status,
            "attempts": payout.attempts, "batch_ref": payout.batch_ref,
            "bank_ref": payout.bank_ref, "failure_reason": payout.failure_reason,
            "voucher_number": voucher.number, "settled_at": payout.settled_at,
            "created_at": payout.created_at}


@dataclass
class ExportedFile:
    batch_ref: str
    count: int
    total: Decimal
    content: str
    skipped: list[str] = field(default_factory=list)  # refs without an approved dealer account


def export_file(*, session: Session, cipher: DataCipher, actor_id: int | None,
                value_date: date | None = None) -> ExportedFile:
    """Put every pending payout due by ``value_date`` (default today) into one bank transfer
    file and mark it exported with the batch reference; a payout whose dealer has no approved
    account (`dealers.approved_account`) stays pending and is listed in ``skipped``."""
    value_date = value_date or lender_today()
    batch = f"PB{datetime.now(UTC):%y%m%d%H%M%S}{secrets.token_hex(2).upper()}"
    todo = session.scalars(select(DealerPayout).where(
        DealerPayout.status == PENDING, DealerPayout.value_date <= value_date)
        .order_by(DealerPayout.id).with_for_update()).all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FILE_HEADER)
    total, count, skipped = Decimal("0.00"), 0, []
    for payout in todo:
        account = dealers.approved_account(session, cipher, payout.dealer_id)
        if account is None:
            skipped.append(payout.ref)
            continue
        app_ref = session.scalar(select(Application.ref).where(
            Application.id == payout.application_id))
        writer.writerow((payout.ref, max(payout.value_date, value_date).isoformat(),
                         f"{payout.amount:.2f}", "CNY", account.bank_name,
                         account.account_name, account.account_number,
                         f"Chedaitong loan {app_ref}"))
        payout.status, payout.batch_ref = EXPORTED, batch
        total += payout.amount
        count += 1
    if count:
        dealers.audit(session, None, "payout.export", "payout_batch", count,
                      batch_ref=batch, total=str(total), actor_id=actor_id)
    session.commit()
    return ExportedFile(batch, count, total, out.getvalue(), skipped)


@dataclass
class Reconciliation:
    paid: int = 0
    failed: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # line, reason


def reconcile(*, session: Session, content: str) -> Reconciliation:
    """Apply the bank's status file (``payout_ref,status,bank_ref,reason``; status ``paid`` or
    ``failed``). Idempotent: a line repeating what is stored changes nothing; a line that
    contradicts a settled payout is reported, never applied."""
    report = Reconciliation()
    if "\x00" in content:  # no text column stores it (PostgreSQL refuses it)
        raise Invalid("file", "the status file contains a NUL character (\\u0000)")
    try:  # read whole before applying any: a malformed line refuses the file, not half of it
        fieldnames, rows = read_rows(content)
    except UnreadableCsv as exc:
        raise Invalid("file", str(exc)) from None
    missing = [c for c in STATUS_HEADER[:2] if c not in fieldnames]
    if missing:
        raise Invalid("file", f"the status file lacks column(s) {', '.join(missing)}")
    for row, line in rows:
        ref = (row.get("payout_ref") or "").strip()
        status = (row.get("status") or "").strip().lower()
        payout = session.scalar(select(DealerPayout).where(DealerPayout.ref == ref))
        if payout is None:
            report.errors.append({"line": line, "reason": f"unknown payout {ref!r}"})
            continue
        if status not in (PAID, FAILED):
            report.errors.append({"line": line, "reason": f"status must be paid or failed, "
                                                          f"got {status!r}"})
            continue
        if payout.status == status:
            report.unchanged += 1
            continue
        if payout.status != EXPORTED:
            report.errors.append({"line": line, "reason": f"payout {ref} is {payout.status}, "
                                                          "not awaiting the bank"})
            continue
        payout.status = status
        payout.bank_ref = (row.get("bank_ref") or "").strip()[:64] or None
        payout.settled_at = datetime.now(UTC)
        if status == FAILED:
            payout.failure_reason = (row.get("reason") or "").strip()[:200] or "failed"
            report.failed += 1
        else:
            payout.failure_reason = None
            report.paid += 1
        dealers.audit(session, None, f"payout.{status}", "payout", payout.id,
                      bank_ref=payout.bank_ref, reason=payout.failure_reason)
    session.commit()
    return report


def retry(*, session: Session, actor, payout: DealerPayout) -> DealerPayout:
    """Re-queue a failed payout for the next bank file (the voucher stays the one issued)."""
    if payout.status != FAILED:
        raise Conflict(f"only a failed payout can be retried; this one is {payout.status}",
                       details={"status": payout.status})
    payout.status, payout.attempts, payout.batch_ref = PENDING, payout.attempts + 1, None
    payout.value_date = max(payout.value_date, lender_today())
    dealers.audit(session, actor, "payout.retry", "payout", payout.id,
                  attempts=payout.attempts, previous_failure=payout.failure_reason)
    session.commit()
    return payout


@dataclass
class VendorRun:
    sent: int = 0
    paid: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # payout ref, reason


def send(*, session: Session, services: Any, value_date: date | None = None) -> VendorRun:
    """Send every pending payout due by ``value_date`` through the payment vendor (sent); a
    vendor error leaves it pending for the next run, a dealer without an approved account is
    skipped.

    Each payout is claimed before the vendor is called: its row locked and still pending,
    else skipped — one a concurrent export (or send) holds is theirs, never paid twice."""
    value_date = value_date or lender_today()
    run = VendorRun()
    cipher = services.store.cipher
    todo = session.scalars(select(DealerPayout.id).where(
        DealerPayout.status == PENDING, DealerPayout.value_date <= value_date)
        .order_by(DealerPayout.id)).all()
    session.commit()
    for payout_id in todo:
        payout = session.scalar(select(DealerPayout).where(
            DealerPayout.id == payout_id, DealerPayout.status == PENDING)
            .with_for_update(skip_locked=True))
        if payout is None:
            continue
        account = dealers.approved_account(session, cipher, payout.dealer_id)
        if account is None:
            run.errors.append({"ref": payout.ref, "reason": NO_ACCOUNT})
            session.rollback()  # let go of the claim
            continue
        try:
            t = services.vendor("payments").transfer(TransferRequest(
                payout_ref=payout.ref, amount_cents=int(payout.amount * 100),
                bank_name=account.bank_name, account_name=account.account_name,
                account_number=account.account_number,
                value_date=max(payout.value_date, value_date).isoformat(),
                idempotency_key=f"payout-{payout.ref}-{payout.attempts}"))
        except VendorError as exc:
            run.errors.append({"ref": payout.ref, "reason": type(exc).__name__})
            session.rollback()
            continue
        payout.status, payout.bank_ref, payout.batch_ref = SENT, t.transfer_id, "payments-api"
        dealers.audit(session, None, "payout.sent", "payout", payout.id, transfer=t.transfer_id)
        session.commit()
        run.sent += 1
    return run


def sync(*, session: Session, services: Any) -> VendorRun:
    """Read the settlement of every sent payout back from the payment vendor."""
    run = VendorRun()
    for payout in session.scalars(select(DealerPayout).where(DealerPayout.status == SENT)
                                  .order_by(DealerPayout.id)).all():
        try:
            t = services.vendor("payments").status(payout.bank_ref)
        except VendorError as exc:
            run.errors.append({"ref": payout.ref, "reason": type(exc).__name__})
            continue
        if t.status is TransferStatus.ACCEPTED:
            continue
        payout.status = PAID if t.status is TransferStatus.SETTLED else FAILED
        payout.settled_at = datetime.now(UTC)
        payout.failure_reason = (t.reason or "failed")[:200] if payout.status == FAILED else None
        dealers.audit(session, None, f"payout.{payout.status}", "payout", payout.id,
                      bank_ref=payout.bank_ref, reason=payout.failure_reason)
        session.commit()
        run.paid += payout.status == PAID
        run.failed += payout.status == FAILED
    return run
