"""HTTP adapters for the credit bureaus (PBOC and a third-party bureau).

A bureau query leaves an inquiry on the person's credit file, so it carries an idempotency key:
a retry after a timeout must not add a second inquiry."""

from __future__ import annotations

from typing import Any

from vendors import wire
from vendors.http import VendorHttpClient, new_key
from vendors.interfaces import BureauQuery, PbocReport, ThirdPartyReport
from vendors.masking import mask


def _body(query: BureauQuery) -> dict[str, Any]:
    body: dict[str, Any] = {"name": query.name, "id_number": query.id_number,
                            "query_reason": query.reason}
    if query.phone:
        body["phone"] = query.phone
    if query.authorization_ref:
        body["authorization_ref"] = query.authorization_ref
    if query.as_of is not None:
        body["as_of"] = wire.iso(query.as_of)
    return body


class HttpPboc:
    def __init__(self, http: VendorHttpClient) -> None:
        self.http = http

    def query(self, query: BureauQuery) -> PbocReport:
        data = self.http.post_json(
            wire.PBOC, _body(query), op="report", subject=mask(query.id_number, "id_number"),
            idempotency_key=query.idempotency_key or new_key(),
        )
        r = wire.Reader(data, self.http.vendor, "report")
        found = r.flag("found")
        return PbocReport(
            request_id=r.string("request_id"), found=found, code=r.string("code"),
            report_id=r.string("report_id") if found else None,
            reported_at=r.time("reported_at") if found else None,
            report_json=r.string("report_json") if found else None,
        )


class HttpThirdPartyBureau:
    def __init__(self, http: VendorHttpClient) -> None:
        self.http = http

    def query(self, query: BureauQuery) -> ThirdPartyReport:
        data = self.http.post_json(
            wire.THIRD_PARTY, _body(query), op="report",
            subject=mask(query.id_number, "id_number"),
            idempotency_key=query.idempotency_key or new_key(),
        )
        r = wire.Reader(data, self.http.vendor, "report")
        if not r.flag("found"):
            return ThirdPartyReport(r.string("request_id"), False, r.string("code"))
        return ThirdPartyReport(
            request_id=r.string("request_id"), found=True, code=r.string("code"),
            report_id=r.string("report_id"), reported_at=r.time("reported_at"),
            score=r.opt_integer("score"), blacklisted=r.opt_flag("blacklist"),
            multi_lending_platforms=r.opt_integer("multi_lending_platforms"),
            report_json=r.string("report_json"),
        )
