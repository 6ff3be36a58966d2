"""One bureau report → facts and the customer's bureau features, on plain Python values.

The batch path (`featurestore.bureau`, `featurestore.compute`) parses hundreds of thousands
of reports with Arrow and computes features on frames; a decision pulls *one* report per
bureau for *one* customer, where building a frame, an Arrow table and a `FactIndex` costs
hundreds of milliseconds for a few dozen values. This module does the same for one report and
one customer: `report_facts` parses with `json` and yields the facts `pboc_facts` /
`thirdparty_facts` would (same kinds, values, keys and times), and `bureau_values` computes
the bureau features of `compute._bureau_features` from the customer's bureau facts at one
as-of time. Both are held equal to the batch path by tests/featurestore/test_one_report.py.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from featurestore.bureau import (
    LENDER_INQUIRY_REASONS,
    LOAN_OPENED_WINDOW_DAYS,
    OWN_INSTITUTION,
    REPORT_TIMEZONE,
    BureauReportError,
)
from featurestore.extract import Digest

BUREAU_SOURCES = ("pboc", "thirdparty")
_TZ = ZoneInfo(REPORT_TIMEZONE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
_STATUS = re.compile(r"[1-7]")
NAN = float("nan")


@dataclass(frozen=True)
class Fact:
    """One sanitised fact (the `feature_facts` row without its customer)."""

    source: str
    kind: str
    event_time: datetime
    uploaded_at: datetime
    value: float | None = None
    key: str | None = None


# ---- parsing --------------------------------------------------------------------------------
def _number(value: Any, field: str) -> float:
    if value is None:
        return NAN
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BureauReportError(f"report does not parse: {field} is not a number")
    return float(value)


def _text(value: Any, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BureauReportError(f"report does not parse: {field} is not a string")
    return value


def _records(doc: dict, field: str, required: bool) -> list[dict]:
    value = doc.get(field)
    if value is None:
        if required:
            raise BureauReportError(f"report lacks required field {field!r}")
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) | (v is None) for v in value):
        raise BureauReportError(f"report does not parse: {field} is not a list of objects")
    return [v or {} for v in value]


def _document(report_json: str) -> dict:
    try:
        doc = json.loads(report_json)
    except (TypeError, ValueError) as exc:
        raise BureauReportError(f"report does not parse: {exc}") from None
    if not isinstance(doc, dict):
        raise BureauReportError("report does not parse: expected one JSON object per report")
    _text(doc.get("report_id"), "report_id")
    return doc


def _local_date(text: str | None) -> datetime | None:
    """A report's ``YYYY-MM-DD`` (China Standard Time) as an aware UTC datetime, or None."""
    if text is None:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return None
    return day.replace(tzinfo=_TZ).astimezone(UTC)


def _sum(values: Iterable[float]) -> float:
    """pandas' skip-NaN sum: missing amounts add nothing; nothing at all is 0."""
    return float(sum(v for v in values if not math.isnan(v)))


def pboc_report_facts(report_json: str, reported_at: datetime, digest: Digest) -> list[Fact]:
    """The facts of one PBOC report (as `bureau.pboc_facts` makes them)."""
    doc = _document(report_json)
    loans, cards = _records(doc, "loans", True), _records(doc, "cards", True)
    inquiries = _records(doc, "inquiries", True)
    accounts = []
    for acc, is_card in [(a, False) for a in loans] + [(c, True) for c in cards]:
        for name in ("institution", "opened_on", "status", "repayment_24m"):
            _text(acc.get(name), name)
        accounts.append({
            "overdue": _number(acc.get("overdue_amount"), "overdue_amount"),
            "balance": _number(acc.get("balance"), "balance"),
            "limit": _number(acc.get("credit_limit"), "credit_limit") if is_card else NAN,
            "opened": _local_date(acc.get("opened_on")), "status": acc.get("status"),
            "own": acc.get("institution") == OWN_INSTITUTION,
            "worst": max(map(int, _STATUS.findall(acc.get("repayment_24m") or "")), default=0),
        })
    card_rows = accounts[len(loans):]
    opened = [(a["opened"] - _EPOCH) / _DAY for a in accounts if a["opened"]]
    snapshot = {
        "report": 1.0,
        "overdue_amount": _sum(a["overdue"] for a in accounts),
        "card_limit": _sum(a["limit"] for a in card_rows) if card_rows else NAN,
        "card_balance": _sum(a["balance"] for a in card_rows) if card_rows else NAN,
        "own_overdue_amount": _sum(a["overdue"] for a in accounts if a["own"]),
        "open_loans": float(sum(a["status"] == "open" for a in accounts[:len(loans)])),
        "own_open_loans": float(sum(a["status"] == "open" and a["own"]
                                    for a in accounts[:len(loans)])),
        "oldest_account": min(opened) if opened else NAN,
        "worst_status_24m": float(max(a["worst"] for a in accounts)) if accounts else NAN,
    }
    out = [Fact("pboc", kind, reported_at, reported_at, value) for kind, value in snapshot.items()]
    for inq in inquiries:
        reason, institution = _text(inq.get("reason"), "reason"), inq.get("institution")
        date_text = _text(inq.get("date"), "date")
        _text(institution, "institution")
        when = _local_date(date_text)
        if reason in LENDER_INQUIRY_REASONS and when is not None:
            out.append(Fact("pboc", "inquiry", when, reported_at,
                            key=digest(f"{institution or ''}|{date_text}")))
    since = _utc(reported_at) - timedelta(days=LOAN_OPENED_WINDOW_DAYS)
    for acc in loans:  # loans at other lenders only (as bureau.pboc_facts)
        when = _local_date(acc.get("opened_on"))
        if when is not None and when >= since and acc.get("institution") != OWN_INSTITUTION:
            out.append(Fact("pboc", "loan_opened", when, reported_at,
                            key=digest(f"{acc.get('institution') or ''}|{acc['opened_on']}")))
    return out


def thirdparty_report_facts(report_json: str, reported_at: datetime,
                            digest: Digest | None = None) -> list[Fact]:  # noqa: ARG001
    """The facts of one third-party report (as `bureau.thirdparty_facts` makes them)."""
    doc = _document(report_json)
    if doc.get("score") is None:
        raise BureauReportError("report lacks required field 'score'")
    blacklist, multi = doc.get("blacklist"), doc.get("multi_lending")
    if blacklist is None:
        raise BureauReportError("report lacks required field 'blacklist'")
    if not isinstance(blacklist, dict) or not isinstance(multi, dict | None):
        raise BureauReportError("report does not parse: blacklist/multi_lending not objects")
    hit = blacklist.get("hit")
    if hit is not None and not isinstance(hit, bool):
        raise BureauReportError("report does not parse: blacklist.hit is not a boolean")
    values = {"score": _number(doc["score"], "score"),
              "blacklist": NAN if hit is None else float(hit),
              "multi_lending": _number((multi or {}).get("platforms_90d"), "platforms_90d")}
    return [Fact("thirdparty", kind, reported_at, reported_at, v) for kind, v in values.items()]


def report_facts(bureau: str, report_json: str, reported_at: datetime,
                 digest: Digest) -> list[Fact]:
    """Parse one report of ``bureau`` (``pboc`` / ``thirdparty``); raises `BureauReportError`."""
    parse = pboc_report_facts if bureau == "pboc" else thirdparty_report_facts
    return parse(report_json, _utc(reported_at), digest)


# ---- features -------------------------------------------------------------------------------
def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _latest(facts: list[Fact], kind: str) -> float:
    """Value of the most recent fact of ``kind`` (latest event, then latest upload)."""
    best: Fact | None = None
    for f in facts:
        if f.kind == kind and (best is None or (f.event_time, f.uploaded_at)
                               >= (best.event_time, best.uploaded_at)):
            best = f
    if best is None or best.value is None:
        return NAN
    return float(best.value)


def bureau_values(facts: Iterable[Fact], as_of: datetime) -> dict[str, float]:
    """The bureau features at ``as_of`` from one customer's pboc/thirdparty facts (NaN for
    missing; floats as in frames — `store.vector_from_row` types them by the catalog)."""
    as_of = _utc(as_of)
    seen = [f for f in facts if _utc(f.event_time) <= as_of and _utc(f.uploaded_at) <= as_of]
    seen = [Fact(f.source, f.kind, _utc(f.event_time), _utc(f.uploaded_at), f.value, f.key)
            for f in seen]
    pboc = [f for f in seen if f.source == "pboc"]
    has_report = any(f.kind == "report" for f in pboc)
    out: dict[str, float] = {"bureau_report_available": float(has_report)}
    inquiries = [f for f in pboc if f.kind == "inquiry"]
    for months, days in ((1, 30), (3, 91), (6, 182), (12, 365)):
        keys = {f.key for f in inquiries
                if f.key is not None and (as_of - f.event_time) / _DAY < days}
        out[f"bureau_inquiries_{months}m"] = float(len(keys)) if has_report else NAN
    newest = max((f.uploaded_at for f in pboc), default=None)
    current = [f for f in pboc if f.uploaded_at == newest]
    out["bureau_worst_status_24m"] = _latest(current, "worst_status_24m")
    out["bureau_overdue_amount"] = _latest(current, "overdue_amount") if has_report else NAN
    limit, balance = _latest(current, "card_limit"), _latest(current, "card_balance")
    out["bureau_card_utilisation"] = balance / limit if limit > 0 else NAN
    out["bureau_open_loans"] = _latest(current, "open_loans") if has_report else NAN
    as_of_days = (as_of - _EPOCH) / _DAY
    oldest = _latest(current, "oldest_account")
    out["bureau_months_since_oldest"] = (NAN if math.isnan(oldest)
                                         else float(math.floor((as_of_days - oldest) / 30.4375)))
    tp = [f for f in seen if f.source == "thirdparty"]
    out["tp_score"] = _latest(tp, "score")
    out["tp_blacklisted"] = _latest(tp, "blacklist")
    out["tp_multi_lending"] = _latest(tp, "multi_lending")
    return out
