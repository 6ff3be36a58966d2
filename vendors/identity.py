"""HTTP adapters for the identity vendors: ID card check, liveness, bank-card four elements.

Lookups with no side effect; each call still sends an idempotency key (the caller's, one per
intent, else a fresh one; reused by its retries) because vendors bill per query and a retried
lookup should not be billed twice."""

from __future__ import annotations

import base64

from vendors import wire
from vendors.http import VendorHttpClient, new_key
from vendors.interfaces import (
    FourElementRequest,
    FourElementResult,
    IdCheckRequest,
    IdCheckResult,
    LivenessRequest,
    LivenessResult,
    Verdict,
)
from vendors.masking import mask


def _verdict(r: wire.Reader) -> Verdict:
    try:
        return Verdict(r.string("result"))
    except ValueError:
        r.fail("result")


class HttpIdCheck:
    def __init__(self, http: VendorHttpClient) -> None:
        self.http = http

    def verify(self, request: IdCheckRequest) -> IdCheckResult:
        body = {"name": request.name, "id_number": request.id_number}
        if request.front_image is not None and request.back_image is not None:
            body["front_b64"] = base64.b64encode(request.front_image).decode()
            body["back_b64"] = base64.b64encode(request.back_image).decode()
        data = self.http.post_json(
            wire.ID_CHECK, body,
            op="verify", subject=mask(request.id_number, "id_number"),
            idempotency_key=request.idempotency_key or new_key(),
        )
        r = wire.Reader(data, self.http.vendor, "verify")
        return IdCheckResult(r.string("request_id"), _verdict(r), r.string("code"),
                             r.string("message"))


class HttpLiveness:
    def __init__(self, http: VendorHttpClient) -> None:
        self.http = http

    def compare(self, request: LivenessRequest) -> LivenessResult:
        body = {
            "name": request.name,
            "id_number": request.id_number,
            "selfie_b64": base64.b64encode(request.selfie).decode(),
        }
        data = self.http.post_json(wire.LIVENESS, body, op="compare",
                                   subject=mask(request.id_number, "id_number"),
                                   idempotency_key=request.idempotency_key or new_key())
        r = wire.Reader(data, self.http.vendor, "compare")
        return LivenessResult(r.string("request_id"), r.flag("passed"), r.number("score"),
                              r.number("threshold"), r.string("code"), r.string("message"))


class HttpFourElement:
    def __init__(self, http: VendorHttpClient) -> None:
        self.http = http

    def verify(self, request: FourElementRequest) -> FourElementResult:
        body = {
            "name": request.name,
            "id_number": request.id_number,
            "card_number": request.card_number,
            "phone": request.phone,
        }
        subject = f"{mask(request.id_number, 'id_number')} card={mask(request.card_number, 'card')}"
        data = self.http.post_json(wire.FOUR_ELEMENT, body, op="verify", subject=subject,
                                   idempotency_key=request.idempotency_key or new_key())
        r = wire.Reader(data, self.http.vendor, "verify")
        return FourElementResult(r.string("request_id"), _verdict(r), r.string("code"),
                                 r.string("message"))
