"""HTTP adapter for the outbound-call service that places collections' phone tasks.

Placing a call has a side effect (the borrower's phone rings), so every request carries an
idempotency key: a retried request never rings twice."""

from __future__ import annotations

from vendors import wire
from vendors.http import VendorHttpClient, new_key
from vendors.interfaces import CallRequest, CallResult, CallStatus
from vendors.masking import mask


class HttpOutboundCall:
    def __init__(self, http: VendorHttpClient) -> None:
        self.http = http

    def place(self, request: CallRequest) -> CallResult:
        body = {"case_ref": request.case_ref, "phone": request.phone, "script": request.script}
        data = self.http.post_json(
            wire.CALLS, body, op="place",
            subject=f"case={request.case_ref} {mask(request.phone, 'phone')}",
            idempotency_key=request.idempotency_key or new_key(),
        )
        r = wire.Reader(data, self.http.vendor, "place")
        try:
            status = CallStatus(r.string("status"))
        except ValueError:
            r.fail("status")
        return CallResult(r.string("call_id"), status, r.integer("duration_s"),
                          r.time("placed_at"))
