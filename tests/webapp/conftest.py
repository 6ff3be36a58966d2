"""An app wired to the vendor sandbox, a deterministic decision stub, and seeded staff."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from chedaitong.db import Dealer, DecisionRecord, Role, User
from chedaitong_sim.sandbox.server import running_sandbox
from chedaitong_sim.testing import fast_vendors, make_id_number, signed_pdf
from decisioning.origination.accounts import issue_token
from servicing.schedule import offer_summary
from webapp.services import EXTENSION

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "data" / "sample"
PDF = signed_pdf("test document")  # parses as a PDF: the authorisation copy must be one
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


class StubDecisions:
    """Deterministic decisions: up to 200k approve with two plans, above refer, 'Decline' in
    the model name declines. The real service is exercised by tests/decisioning."""

    rules = None

    def decide(self, session, application, as_of=None, authorization_ref=None, **_):
        amount = Decimal(application.loan_amount)
        now = datetime.now(UTC)
        if "Decline" in application.vehicle_model:
            outcome, offers = "decline", []
        elif amount > 200_000:
            outcome, offers = "refer", []
        else:
            outcome, offers = "approve", [self._offer(amount, application.term_months, "0.0899",
                                                      "STD", True),
                                          self._offer(amount, 36, "0.0999", "ALT", False)]
        reasons = [] if outcome == "approve" else [{
            "source": "rule", "id": "UW_STUB", "reason_code": "STUB",
            "reason_zh": "测试原因", "reason_en": "stub reason"}]
        record = DecisionRecord(
            application_id=application.id, decided_at=now, as_of=as_of or now, outcome=outcome,
            rules_version="stub", model_version=None, challenger_version=None,
            features={"loan_amount": float(amount)}, fired_rules=[], model=None, challenger=None,
            offers=offers, reasons=reasons, evidence_gaps=[], timings_ms={"total": 0.1})
        session.add(record)
        session.flush()
        return record

    @staticmethod
    def _offer(amount, term, rate, pid, recommended):
        q = offer_summary(amount, Decimal(rate), term)
        return {"product_id": pid, "name_zh": "标准", "name_en": pid, "lease_type": "direct",
                "term": term, "repayment_method": "equal_installment", "risk_grade": "B",
                "annual_rate": rate, "down_payment_ratio": "0.2",
                "financed_amount": str(amount), "first_installment":
                str(q.monthly_installment), "total_interest": str(q.total_interest),
                "recommended": recommended, "version": "stub"}


@pytest.fixture(scope="session")
def sandbox():
    with running_sandbox(None, latency_ms=1) as server:  # hash oracle: any valid ID
        yield server


@pytest.fixture
def api(app, sandbox):
    """The test app with sandbox vendors and the stub decision service."""
    svc = app.extensions[EXTENSION]
    svc.vendors = fast_vendors(sandbox.base_url)
    svc.decisions = StubDecisions()
    yield app
    svc.vendors.close()


@dataclass
class Staff:
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    dealers: dict[str, int] = field(default_factory=dict)

    def h(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}


@pytest.fixture
def staff(engine) -> Staff:
    """Two dealers; consultants c1, c2 (dealer A) and c3 (dealer B); reviewers r1, r2; an
    analyst, a collector and an admin — each with a token."""
    out = Staff()
    with Session(engine) as s:
        for code in ("DA", "DB"):
            d = Dealer(code=code, name=f"4S {code}", city="北京", province="北京",
                       lat=39.9, lon=116.4)
            s.add(d)
            s.flush()
            out.dealers[code] = d.id
        people = [("c1", Role.CONSULTANT, "DA"), ("c2", Role.CONSULTANT, "DA"),
                  ("c3", Role.CONSULTANT, "DB"), ("r1", Role.REVIEWER, None),
                  ("r2", Role.REVIEWER, None), ("an", Role.ANALYST, None),
                  ("co", Role.COLLECTOR, None), ("ad", Role.ADMIN, None)]
        for name, role, dealer in people:
            u = User(username=name, display_name=name, role=role,
                     dealer_id=out.dealers[dealer] if dealer else None)
            s.add(u)
            s.flush()
            out.users[name] = u.id
            out.tokens[name] = issue_token(s, u)
        s.commit()
    return out


def id_number(seq: int) -> str:
    """A valid ID number per ``seq``, one the hash-oracle ID check confirms (it answers "not
    found" or "mismatch" for 0.6 % of numbers, which would leave the identity unverified)."""
    from chedaitong_sim.sandbox.answers import unit

    for day in range(15, 29):
        idn = make_id_number(f"110101198806{day}{seq:03d}")
        if unit("id_check", idn) >= 0.006:
            return idn
    raise AssertionError(f"no confirmable ID number for {seq}")


#: id number → the token of the customer who verified it (for their consent in the helpers)
CUSTOMER_TOKENS: dict[str, str] = {}


def verify_identity(client, token: str) -> None:
    """ID-card check and liveness over HTTP until the claim is verified (the hash-oracle
    sandbox fails a few IDs and selfies; a retry with another selfie is what a person does)."""
    h = {"Authorization": f"Bearer {token}"}
    r = client.post("/customers/me/id-check", headers=h)
    assert r.status_code == 201 and r.json["passed"], r.json
    for attempt in range(12):
        r = client.post("/customers/me/liveness", headers=h, content_type="multipart/form-data",
                        data={"selfie": file(JPEG + bytes([attempt]), "me.jpg")})
        assert r.status_code == 201, r.json
        if r.json["passed"]:
            return
    raise AssertionError("liveness never passed")


def grant_consent(client, token: str, app_id: int, **body) -> dict:
    r = client.post(f"/applications/{app_id}/consent",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"text_version": "v1", **body})
    assert r.status_code == 201, r.json
    return r.json


def register_customer(client, name: str, seq: int, verify: bool = True) -> tuple[str, str]:
    """Register + complete the profile over HTTP (and by default confirm the identity with
    the ID check and liveness); returns (token, id number)."""
    r = client.post("/customers/register", json={"username": name, "display_name": name})
    assert r.status_code == 201, r.json
    token = r.json["token"]
    idn = id_number(seq)
    r = client.put("/customers/me/profile", headers={"Authorization": f"Bearer {token}"},
                   json={"name": "张三丰", "id_number": idn, "phone": f"1380013{seq:04d}",
                         "birth_date": f"{idn[6:10]}-{idn[10:12]}-{idn[12:14]}",
                         "home_lat": 39.91, "home_lon": 116.40,
                         "home_city": "北京", "home_province": "北京",
                         "monthly_income": 15000, "device_id": f"dev-{seq}"})
    assert r.status_code == 201, r.json
    if verify:
        verify_identity(client, token)
        CUSTOMER_TOKENS[idn] = token
    return token, idn


APPLICATION = {"vehicle_brand": "比亚迪", "vehicle_model": "汉 EV", "vehicle_price": "250000.00",
               "lease_type": "direct", "down_payment": "60000.00", "loan_amount": "150000.00",
               "term_months": 36}


def file(content: bytes = PDF, name: str = "doc.pdf"):
    return (io.BytesIO(content), name)


def new_application(client, staff: Staff, consultant: str, idn: str, submit: bool = True,
                    **changes) -> dict:
    r = client.post("/applications", headers=staff.h(consultant),
                    json={**APPLICATION, "id_number": idn, **changes})
    assert r.status_code == 201, r.json
    app_id = r.json["id"]
    if idn in CUSTOMER_TOKENS:  # the customer confirms it and consents in the user app
        grant_consent(client, CUSTOMER_TOKENS[idn], app_id)
    r = client.post(f"/applications/{app_id}/authorization", headers=staff.h(consultant),
                    data={"file": file()}, content_type="multipart/form-data")
    assert r.status_code == 201, r.json
    if submit:
        r = client.post(f"/applications/{app_id}/submit?wait=20", headers=staff.h(consultant))
        assert r.status_code == 200, r.json
    return r.json if submit else {"id": app_id}
