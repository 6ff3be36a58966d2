"""A response audit (issue #14): every endpoint × every role, after a decision that rests on
device data and a reviewer's internal note. Customers and consultants never see a
device-derived feature (by the catalog's ``source``), its value, a device rule's reason or a
staff note; staff never see a device-derived value or reason either (one flag instead)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import yaml
from sqlalchemy.orm import Session

from chedaitong.db import Application, DecisionRecord
from decisioning.origination.audiences import DEVICE_RULES, device_derived
from featurestore import catalog
from webapp.services import EXTENSION

from .conftest import ROOT, Staff, new_application, register_customer

NOTE = "INTERNAL-NOTE-7f3a reviewer only"
MODEL_TEXT = "median photo distance from home (km): 1,944"
DEVICE_VALUES = {"contacts_blacklisted": 3, "photo_home_median_km": 1944.25,
                 "sms_collection_90d": 7, "gps_share_in_home_city_90d": 0.0123,
                 "device_shared_customers": 4}


def _underwriting_rules() -> dict[str, dict]:
    doc = yaml.safe_load((ROOT / "rules" / "underwriting.yaml").read_text(encoding="utf-8"))
    return {r["id"]: r for r in doc["rules"]}


def _features_read(cond) -> set[str]:
    if not isinstance(cond, dict):
        return set()
    out = {cond["feature"]} if "feature" in cond else set()
    for key in ("all", "any"):
        for c in cond.get(key, []):
            out |= _features_read(c)
    return out | _features_read(cond.get("not"))


def test_every_rule_reading_device_data_is_known_as_a_device_rule():
    devices = device_derived(catalog())
    reading = {rid for rid, r in _underwriting_rules().items()
               if _features_read(r["when"]) & devices}
    assert reading == DEVICE_RULES


class DeviceHeavyDecisions:
    """Refers with reasons drawn from contacts, SMS, photos and a bureau rule; the features
    hold device-derived values."""

    rules = None

    def decide(self, session, application, as_of=None, authorization_ref=None, **_):
        rules = _underwriting_rules()
        fired = [rules[i] for i in ("UW_CONTACTS_BLACKLISTED", "UW_COLLECTION_SMS",
                                    "UW_PHOTO_GPS_FAR", "UW_CARD_UTILISATION")]
        reasons = [{"source": "rule", "id": r["id"], "reason_code": r["reason_code"],
                    "reason_zh": r["reason_zh"], "reason_en": r["reason_en"]} for r in fired]
        reasons.append({"source": "model", "id": "photo_home_median_km",
                        "reason_code": "MODEL_FACTOR",
                        "reason_zh": "照片与住址距离中位数（公里）：1,944",
                        "reason_en": MODEL_TEXT})
        now = datetime.now(UTC)
        record = DecisionRecord(
            application_id=application.id, decided_at=now, as_of=as_of or now, outcome="refer",
            rules_version="audit", model_version=None, challenger_version=None,
            features={**DEVICE_VALUES, "bureau_card_utilisation": 0.93,
                      "loan_amount": float(application.loan_amount)},
            fired_rules=[{"id": r["id"], "priority": r["priority"], "outcome": r["outcome"],
                          "reason_code": r["reason_code"], "reason_zh": r["reason_zh"],
                          "reason_en": r["reason_en"]} for r in fired],
            model=None, challenger=None, offers=[], reasons=reasons, evidence_gaps=[],
            timings_ms={"total": 0.1})
        session.add(record)
        session.flush()
        return record


VALUES = [MODEL_TEXT, "1,944", "1944.25", "0.0123"]  # this customer's device-derived values


def _device_reasons() -> list[str]:
    rules = _underwriting_rules()
    return [t for rid in DEVICE_RULES for t in (rules[rid]["reason_en"], rules[rid]["reason_zh"])]


def _login(client, username: str, token: str) -> None:
    body = client.get("/pages/login").get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', body)
    client.post("/pages/login", data={"username": username, "token": token,
                                      "csrf": found.group(1) if found else ""})


def _urls(app, values: dict[str, object]) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/static", "/docs")) or rule.endpoint.endswith("login"):
            continue
        try:
            url = rule.rule
            for arg in rule.arguments:
                url = re.sub(rf"<(?:[a-z]+:)?{arg}>", str(values[arg]), url)
        except KeyError:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, url))
    return out


@pytest.fixture
def audited(api, staff: Staff, engine):
    svc = api.extensions[EXTENSION]
    svc.decisions = DeviceHeavyDecisions()
    client = api.test_client()
    token, idn = register_customer(client, "audited", 60)
    submitted = new_application(client, staff, "c1", idn)
    app_id = submitted["id"]
    r = client.post(f"/reviews/{app_id}", headers=staff.h("r1"),
                    json={"decision": "approve", "notes": NOTE, "annual_rate": "0.1"})
    assert r.status_code == 201 and r.json["notes"] == NOTE
    with Session(engine) as s:
        cid = s.get(Application, app_id).customer_id
    return client, token, app_id, cid, submitted


def test_no_device_value_or_internal_note_reaches_customers_or_dealers(audited, api, staff):
    client, token, app_id, cid, submitted = audited
    reasons, names = _device_reasons(), sorted(device_derived(catalog()))
    # the submit answer the consultant got is a response too
    outside = {"customer": {"Authorization": f"Bearer {token}"},
               **{c: staff.h(c) for c in ("c1", "c2", "c3")}}
    inside = {r: staff.h(r) for r in ("r1", "an", "ad", "co")}
    values = {"application_id": app_id, "customer_id": cid, "kind": "insurance_policy",
              "source": "gps", "version": "none", "name": "x.png"}
    seen: list[tuple[str, str, str, int]] = [("c1", "POST", "submit", 200)]
    bodies = {("c1", "POST submit"): str(submitted)}
    for who, headers in {**outside, **inside}.items():
        for method, url in _urls(api, values):
            if url.startswith("/pages"):
                continue
            r = client.open(url, method=method, headers=headers,
                            json={} if method != "GET" else None)
            assert r.status_code != 500, (who, method, url)
            bodies[(who, f"{method} {url}")] = r.get_data().decode("utf-8", "replace")
            seen.append((who, method, url, r.status_code))
    for who in inside:  # the back-office pages, signed in
        page = api.test_client()
        _login(page, who, staff.tokens[who])
        for method, url in _urls(api, values):
            if url.startswith("/pages") and method == "GET" and "logout" not in url:
                r = page.get(url)
                assert r.status_code != 500, (who, url)
                bodies[(who, f"GET {url}")] = r.get_data().decode("utf-8", "replace")

    detail_for = {who: bodies[(who, f"GET /applications/{app_id}")] for who in
                  ("customer", "c1", "r1")}
    assert "Credit history" in detail_for["customer"]  # categories, not silence
    assert "DEVICE_SIGNALS" in detail_for["r1"] and "HIGH_UTILISATION" in detail_for["r1"]
    assert NOTE in bodies[("r1", f"GET /applications/{app_id}/history")]
    assert "device_risk_signals_recorded" in bodies[("r1", f"GET /pages/reviews/{app_id}")]
    about_the_customer = ("GET /applications", "GET /reviews", "GET /customers",
                          "GET /pages/reviews", "POST /reviews")
    for (who, what), body in bodies.items():
        for value in VALUES:
            assert value not in body, (who, what, value)
        # staff pages about rules and models may name features and quote rule files; about
        # this customer they show neither a device feature nor a device rule's reason
        if who in outside or what.startswith(about_the_customer) or what == "POST submit":
            for text in [*reasons, *names]:
                assert text not in body, (who, what, text)
        if who in outside:
            assert NOTE not in body, (who, what)
    assert len(seen) > 200
