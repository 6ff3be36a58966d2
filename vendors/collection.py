"""HTTP adapter for the outsourced collection agency: hand a delinquent loan over, follow it.
Assignment carries an idempotency key so a retry never opens a second case for one loan."""

from __future__ import annotations

from urllib.parse import quote

from vendors import wire
from vendors.http import VendorHttpClient, new_key
from vendors.interfaces import CaseStatus, CollectionAssignment, CollectionCase, CollectionStatus
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

    def status(self, case_id: str) -> CollectionStatus:
        data = self.http.get_json(f"{wire.CASES}/{quote(case_id, safe='')}", op="status",
                                  subject=case_id)
        r = wire.Reader(data, self.http.vendor, "status")
        return CollectionStatus(r.string("case_id"), _status(r), r.time("updated_at"),
                                r.integer("recovered_cents"), r.opt_string("note") or "")


def _status(r: wire.Reader) -> CaseStatus:
    try:
        return CaseStatus(r.string("status"))
    except ValueError:
        r.fail("status")
