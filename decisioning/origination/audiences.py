"""What each audience is shown of a decision, defined once.

The decision record keeps everything (features, fired rules, model reasons with values):
models and auditors need it. People see less, by role:

- customer: outcome, offers and actionable, non-revealing reason *categories* ("information
  could not be verified", "debt burden too high");
- consultant (dealer): outcome, plan/offers and the same generic categories, never details;
- reviewer / analyst / admin: the rule and model reasons to decide on, except that anything
  derived from the device (contacts, SMS, photos, GPS, shared devices) collapses into one
  flag, "device risk signals apply": never a device-derived value.

Device-derived means a feature whose catalog ``source`` is a device source (or that is
computed from the device id); a rule is device-derived when it reads one. Internal review
notes are staff-only (`history_for`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Row

from chedaitong.db import DecisionRecord, Role, User
from chedaitong.db.origination import StateTransition
from featurestore.definitions import FeatureCatalog, catalog

#: a decision as the views read it: the record, or a row of its view columns
#: (`applications.VIEW_COLUMNS`: id, decided_at, outcome, offers, reasons, evidence_gaps,
#: guidance) — what every poll reads
Viewed = DecisionRecord | Row[Any]

STAFF = (Role.REVIEWER, Role.ANALYST, Role.ADMIN, Role.COLLECTOR)
DEVICE_SOURCE_PREFIX = "device_"
#: features computed from the device although their source table is another one
DEVICE_DERIVED_EXTRA = frozenset({"device_shared_customers"})
#: underwriting rules that read a device-derived feature (tests/…/test_audiences.py checks
#: this against rules/underwriting.yaml, so a new device rule cannot slip through)
DEVICE_RULES = frozenset({
    "UW_DEVICE_FRAUD_RING", "UW_DEVICE_SHARED", "UW_CONTACTS_BLACKLISTED",
    "UW_CONTACTS_SOME_BLACKLISTED", "UW_COLLECTION_SMS", "UW_COLLECTION_SMS_SOME",
    "UW_GPS_AWAY_FROM_HOME", "UW_PHOTO_GPS_FAR", "UW_MULTI_LENDING",
    "UW_TOO_LITTLE_DEVICE_DATA",
})

# ---- categories: what a customer or a dealer may be told ---------------------------------
VERIFY, CREDIT, BURDEN, TERMS, CONSENT, GENERAL = (
    "INFO_NOT_VERIFIED", "CREDIT_HISTORY", "DEBT_BURDEN", "TERMS_NOT_OFFERED",
    "CONSENT_NEEDED", "OVERALL_ASSESSMENT")
CATEGORY_TEXT = {
    VERIFY: ("部分信息未能核实，请确认资料真实完整", "Some information could not be verified"),
    CREDIT: ("信用记录暂不符合要求", "Credit history does not meet our criteria"),
    BURDEN: ("负债压力过高", "Debt burden too high"),
    TERMS: ("申请条件不在可办理范围内（期限、首付或车辆）",
            "The requested terms are outside what we offer"),
    CONSENT: ("征信查询授权缺失或已撤回，请在App内重新授权",
              "Credit-inquiry consent is missing or withdrawn: grant it in the app"),
    GENERAL: ("综合评估未通过", "Overall assessment"),
}
#: rule reason code → category
REASON_CATEGORY = {
    "AGE_OUT_OF_RANGE": TERMS, "TERM_NOT_OFFERED": TERMS, "LOAN_TO_VALUE": TERMS,
    "DOWN_PAYMENT": TERMS, "NO_PRODUCT": TERMS,
    "ID_NOT_VERIFIED": VERIFY, "LIVENESS_FAILED": VERIFY, "LIVENESS_WEAK": VERIFY,
    "FOUR_ELEMENT_MISMATCH": VERIFY, "THIRD_PARTY_BLACKLIST": VERIFY, "DEVICE_SHARED": VERIFY,
    "CONTACTS_BLACKLISTED": VERIFY, "COLLECTION_SMS": VERIFY, "LOCATION_MISMATCH": VERIFY,
    "MISSING_EVIDENCE": VERIFY, "DUPLICATE_VEHICLE": VERIFY,
    "BUREAU_OVERDUE": CREDIT, "BUREAU_DELINQUENCY": CREDIT, "TOO_MANY_INQUIRIES": CREDIT,
    "MULTI_LENDING": CREDIT, "HIGH_UTILISATION": CREDIT, "LOW_THIRD_PARTY_SCORE": CREDIT,
    "THIN_FILE": CREDIT,
    "AFFORDABILITY": BURDEN, "EXPOSURE_LIMIT": BURDEN, "DUPLICATE_APPLICATION": BURDEN,
    "APPLICATION_VELOCITY": BURDEN,
    "CONSENT_MISSING": CONSENT,
}
DEVICE_FLAG = {"source": "device", "id": "DEVICE_SIGNALS", "reason_code": "DEVICE_SIGNALS",
               "reason_zh": "存在设备风险信号（详情仅供模型使用）",
               "reason_en": "Device risk signals apply (details are for the models only)"}


def device_derived(cat: FeatureCatalog | None = None) -> frozenset[str]:
    """Names of the features derived from device data (catalog ``source``); the project
    catalog's are worked out once per process."""
    if cat is None or cat is catalog():
        return _catalog_device_derived()
    return _device_derived(cat)


def _device_derived(cat: FeatureCatalog) -> frozenset[str]:
    return frozenset(n for n, f in cat.items()
                     if f.source.startswith(DEVICE_SOURCE_PREFIX)) | DEVICE_DERIVED_EXTRA


@lru_cache(maxsize=1)
def _catalog_device_derived() -> frozenset[str]:
    return _device_derived(catalog())


def _feature_category(name: str, cat: FeatureCatalog, devices: frozenset[str]) -> str:
    f = cat.get(name)
    if f is None:
        return GENERAL
    if name in devices or f.source in ("identity",):
        return VERIFY
    if f.source.startswith("bureau_"):
        return CREDIT
    if name in ("installment_to_income", "monthly_income") or f.source == "platform_books":
        return BURDEN
    if f.source == "application":
        return TERMS
    return GENERAL


def _is_device(reason: dict[str, Any], devices: frozenset[str]) -> bool:
    if reason.get("source") == "model":
        return reason.get("id") in devices
    return reason.get("id") in DEVICE_RULES


def categories(record: Viewed) -> list[dict[str, Any]]:
    """The record's reasons as distinct generic categories, most important first."""
    cat = catalog()
    devices = device_derived(cat)  # once, not once per reason
    seen: dict[str, None] = {}
    for r in record.reasons or []:
        if r.get("source") == "model":
            code = _feature_category(r.get("id", ""), cat, devices)
        else:
            code = REASON_CATEGORY.get(r.get("reason_code", ""), GENERAL)
        seen.setdefault(code, None)
    return [{"source": "category", "id": code, "reason_code": code,
             "reason_zh": CATEGORY_TEXT[code][0], "reason_en": CATEGORY_TEXT[code][1]}
            for code in seen]


def staff_reasons(record: Viewed) -> list[dict[str, Any]]:
    """Reasons for a reviewer: rule and model reasons, device-derived ones replaced by one
    flag (so no value about contacts, SMS, photos or GPS ever reaches them)."""
    devices = device_derived()
    out, flagged = [], False
    for r in record.reasons or []:
        if _is_device(r, devices):
            if not flagged:
                out.append(dict(DEVICE_FLAG))
                flagged = True
            continue
        out.append({k: r.get(k) for k in ("source", "id", "reason_code", "reason_zh",
                                          "reason_en")})
    return out


def staff_features(features: dict[str, Any] | None) -> dict[str, Any]:
    """A record's features without any device-derived value (a flag says they exist)."""
    devices = device_derived()
    kept = {k: v for k, v in (features or {}).items() if k not in devices}
    if any(k in devices for k in features or {}):
        kept["device_risk_signals_recorded"] = True
    return kept


def decision_view(record: Viewed | None, user: User | None) -> dict[str, Any] | None:
    """The decision as ``user`` may see it (None user: the most restricted view)."""
    if record is None:
        return None
    staff = user is not None and user.role in STAFF
    # guidance is shown through `guidance.customer_view` (words, terms and plan only)
    view = {"id": record.id, "outcome": record.outcome, "decided_at": record.decided_at,
            "offers": record.offers, "guidance": record.guidance}
    if staff:
        reasons = staff_reasons(record)
        view.update(reasons=reasons, evidence_gaps=record.evidence_gaps,
                    device_risk_signals=any(r["id"] == DEVICE_FLAG["id"] for r in reasons))
    else:
        view.update(reasons=categories(record), evidence_gaps=[])
    return view


def history_for(transitions: list[StateTransition], user: User,
                staff_ids: set[int]) -> list[dict[str, Any]]:
    """The state history; notes written by staff (internal review notes) only for staff."""
    staff = user.role in STAFF
    return [{"from_state": t.from_state, "to_state": t.to_state, "actor_id": t.actor_id,
             "at": t.at,
             "note": t.note if staff or t.actor_id not in staff_ids else ""}
            for t in transitions]
