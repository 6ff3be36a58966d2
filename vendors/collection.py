"""HTTP adapter for the outsourced collection agency: hand a delinquent loan over, follow it.
Assignment carries an idempotency key so a retry never opens a second case for one loan; an
agency answering ``409 CASE_EXISTS`` (a case opened by an earlier night) is reconciled by
`open_case`, the loan's open case looked up by loan reference."""

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
