"""HTTP adapter for the outsourced collection agency: hand a delinquent loan over, follow it.
Assignment carries an idempotency key so a retry never opens a second case for one loan; an
agency answering ``409 CASE_EXISTS`` (a case opened by an earlier night) is reconciled by
`open_case`, the loan's open case looked up by loan reference."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from vendors import wire
from vendors.batch import check_size, read_items
from vendors.http import VendorHttpClient, new_key
from vendors.interfaces import (
    COLLECTION_BATCH_MAX,
    BatchItem,
    CaseStatus,
    CaseUpdate,
    CollectionAssignment,
    CollectionCase,
    CollectionStatus,
)
from vendors.masking import mask


class HttpCollection:
    def __init__(self, http: VendorHttpClient) -> None:
        self.http = http

    def assign(self, case: CollectionCase) -> CollectionAssignment:
        body = {
            "loan_id": case.loan_id, "name": case.name, "id_number": case.id_number,
            "phone": case.phone, "overdue_amount_cents": case.overdue_amount_cents,
            "days_past_due": case.days_past_due, "bucket": case.bucket,
        }
        data = self.http.post_json(
            wire.CASES, body, op="assign",
            subject=f"loan={case.loan_id} {mask(case.id_number, 'id_number')}",
            idempotency_key=case.idempotency_key or new_key(),
        )
        r = wire.Reader(data, self.http.vendor, "assign")
        return CollectionAssignment(r.string("case_id"), r.string("agency"), _status(r),
                                    r.time("assigned_at"))

    def assign_batch(self, cases: Sequence[CollectionCase]) -> list[BatchItem]:
        """The day's placement in one call; ``CASE_EXISTS`` items name the open case."""
        check_size(cases, COLLECTION_BATCH_MAX, "placement")
        keys = [str(c.idempotency_key) for c in cases]
        body = {"cases": [{
            "loan_id": c.loan_id, "name": c.name, "id_number": c.id_number, "phone": c.phone,
            "overdue_amount_cents": c.overdue_amount_cents, "days_past_due": c.days_past_due,
            "bucket": c.bucket, "idempotency_key": c.idempotency_key} for c in cases]}
        data = self.http.post_json(wire.PLACEMENTS, body, op="assign_batch",
                                   subject=f"{len(cases)} cases", idempotency_key=new_key())
        return read_items(data, self.http.vendor, "assign_batch", keys)

    def update_batch(self, updates: Sequence[CaseUpdate]) -> list[BatchItem]:
        """New figures of many open cases in one call (see `CollectionVendor`)."""
        check_size(updates, COLLECTION_BATCH_MAX, "case update")
        keys = [u.idempotency_key for u in updates]
        body = {"updates": [{
            "case_id": u.case_id, "overdue_amount_cents": u.overdue_amount_cents,
            "days_past_due": u.days_past_due, "bucket": u.bucket,
            "idempotency_key": u.idempotency_key} for u in updates]}
        data = self.http.post_json(wire.CASE_UPDATES, body, op="update_batch",
                                   subject=f"{len(updates)} cases",
                                   idempotency_key=new_key())
        return read_items(data, self.http.vendor, "update_batch", keys)

    def status(self, case_id: str) -> CollectionStatus:
        data = self.http.get_json(f"{wire.CASES}/{quote(case_id, safe='')}", op="status",
                                  subject=case_id)
        return _case_status(wire.Reader(data, self.http.vendor, "status"))

    def open_case(self, loan_id: str) -> CollectionStatus | None:
        """The loan's open case at the agency, if any (what a ``CASE_EXISTS`` refers to)."""
        data = self.http.get_json(f"{wire.CASES}?loan_id={quote(loan_id, safe='')}",
                                  op="find", subject=f"loan={loan_id}")
        cases = data.get("cases")
        if not isinstance(cases, list):
            wire.Reader(data, self.http.vendor, "find").fail("cases")
        found = [_case_status(wire.Reader(c, self.http.vendor, "find")) for c in cases
                 if isinstance(c, dict)]
        return found[0] if found else None

    def update(self, case_id: str, *, overdue_amount_cents: int, days_past_due: int,
               bucket: str, idempotency_key: str | None = None) -> CollectionStatus:
        """Tell the agency the case's new overdue balance and days past due."""
        data = self.http.post_json(
            f"{wire.CASES}/{quote(case_id, safe='')}/update",
            {"overdue_amount_cents": overdue_amount_cents, "days_past_due": days_past_due,
             "bucket": bucket},
            op="update", subject=case_id, idempotency_key=idempotency_key or new_key(),
        )
        return _case_status(wire.Reader(data, self.http.vendor, "update"))

    def withdraw(self, case_id: str, *, reason: str,
                 idempotency_key: str | None = None) -> CollectionStatus:
        """Recall the case (the loan was cured or settled); withdrawing twice is harmless."""
        data = self.http.post_json(
            f"{wire.CASES}/{quote(case_id, safe='')}/withdraw", {"reason": reason},
            op="withdraw", subject=case_id, idempotency_key=idempotency_key or new_key(),
        )
        return _case_status(wire.Reader(data, self.http.vendor, "withdraw"))


def _case_status(r: wire.Reader) -> CollectionStatus:
    return CollectionStatus(r.string("case_id"), _status(r), r.time("updated_at"),
                            r.integer("recovered_cents"), r.opt_string("note") or "")


def _status(r: wire.Reader) -> CaseStatus:
    try:
        return CaseStatus(r.string("status"))
    except ValueError:
        r.fail("status")
