"""An app wired to the vendor sandbox, a deterministic decision stub, and seeded staff."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chedaitong.config import Settings
from chedaitong.crypto import DataCipher
from chedaitong.db import Application, Customer, Dealer, DecisionRecord, Role, User
from chedaitong_sim.sandbox.server import running_sandbox
from chedaitong_sim.testing import fast_vendors, make_id_number, signed_pdf
from chedaitong_sim.worldload.origination import load_world
from decisioning.origination.accounts import issue_token
from decisioning.service import DecisionService
from featurestore import offline
from featurestore.store import FeatureStore
from models.scoring import load_champion
from servicing.schedule import offer_summary
from tests.conftest import sample_world_facts
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


def add_admin(engine, staff: Staff, name: str = "ad2") -> str:
    """A second admin, made as the command line makes one (no admin in the app created it, so
    the four-eyes checks count it as another person); its token joins ``staff``."""
    with Session(engine) as s:
        u = User(username=name, display_name=name, role=Role.ADMIN)
        s.add(u)
        s.flush()
        staff.users[name], staff.tokens[name] = u.id, issue_token(s, u)
        s.commit()
    return name


@pytest.fixture
def deciding_app(api, staff, engine) -> int:
    """An application left in ``deciding`` (no worker will take it: the test decides it)."""
    client = api.test_client()
    _, idn = register_customer(client, f"wait-{uuid.uuid4().hex[:6]}", 41)
    app_id = new_application(client, staff, "c1", idn, submit=False)["id"]
    with Session(engine) as s:
        s.execute(update(Application).where(Application.id == app_id)
                  .values(state="deciding"))
        s.commit()
    return app_id


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


# ---- the real decision service over the sample world (journey, guidance, integrity) -------
WORLD_CUSTOMERS = 40  # the first 40 sample customers hold approvable and refusable applications


@pytest.fixture(scope="session")
def app_cipher() -> DataCipher:
    """The cipher of the test app's settings: blind indexes must match what the app looks up."""
    return DataCipher(Settings.from_env({}, env="test").data_key)


@pytest.fixture(scope="session")
def world_facts(app_cipher):
    return sample_world_facts(app_cipher)


@pytest.fixture(scope="session")
def world_entities():
    return offline.application_entities(WORLD)


@pytest.fixture(scope="session")
def champion_root(sample_champion_root) -> Path:
    return sample_champion_root


@pytest.fixture
def real_api(app, sandbox, settings, champion_root, rulebook, tmp_path):
    """The test app with sandbox vendors and the real decision service (no bureau vendors:
    the world's reports are already in the feature store)."""
    svc = app.extensions[EXTENSION]
    svc.vendors = fast_vendors(sandbox.base_url)
    svc.decisions = DecisionService(
        store=FeatureStore(DataCipher(settings.data_key)), rules=rulebook,
        model=load_champion(champion_root), model_root=champion_root,
        rules_archive=tmp_path / "rules-archive")
    yield app
    svc.vendors.close()


def world_application(engine, decisions, world_facts, world_entities,
                      accept: Callable[[DecisionRecord], bool], *, prefix: str,
                      roles: Mapping[str, Role]) -> dict:
    """Load the world's first customers and pick the first application whose decision at
    its world time ``accept`` holds (probed in a transaction rolled back), with a signed-in
    user per ``roles`` entry (the customer's own account; staff at its dealer).

    Returns its ``ref``, the customer's ``id_number`` and ``customer_id``, the order
    ``fields`` a consultant re-files, ``world_customers`` and the headers ``h`` by name."""
    as_of = world_entities.set_index("application_id")["as_of"].to_dict()
    with Session(engine) as s:
        ids = load_world(s, decisions.store, WORLD, customers=WORLD_CUSTOMERS,
                         facts=world_facts)
        s.commit()
        chosen = None
        for a in s.scalars(select(Application).order_by(Application.id)).all():
            with s.begin_nested() as probe:
                ok = accept(decisions.decide(s, a, as_of=as_of[a.ref].to_pydatetime()))
                probe.rollback()
            if ok:
                chosen = a
                break
        assert chosen is not None, "no such application among the loaded world customers"
        customer = s.get(Customer, chosen.customer_id)
        people = {}
        for name, role in roles.items():
            dealer_id = chosen.dealer_id if role is Role.CONSULTANT else None
            u = User(username=f"{prefix}-{name}", display_name=name, role=role,
                     dealer_id=dealer_id)
            s.add(u)
            s.flush()
            people[name] = {"Authorization": f"Bearer {issue_token(s, u)}"}
            if role is Role.CUSTOMER:
                customer.user_id = u.id
        fields = {k: getattr(chosen, k) for k in (
            "vehicle_brand", "vehicle_model", "lease_type", "term_months")}
        fields.update({k: str(getattr(chosen, k)) for k in (
            "vehicle_price", "down_payment", "loan_amount")})
        id_number = decisions.store.profile(customer).id_number
        s.commit()
        return {"ref": chosen.ref, "id_number": id_number, "fields": fields,
                "customer_id": customer.id, "world_customers": len(ids["customers"]),
                "h": people}


def file_and_submit(client, h: Mapping[str, dict], fields: Mapping[str, Any], *,
                    consultant: str = "sc", customer: str = "cust") -> dict:
    """The consultant files the order, the customer consents to this application's credit
    inquiry in the app, the consultant uploads the signed authorisation and submits (waiting
    for the decision): the submit answer."""
    r = client.post("/applications", headers=h[consultant], json=dict(fields))
    assert r.status_code == 201, r.json
    app_id = r.json["id"]
    r = client.post(f"/applications/{app_id}/consent", headers=h[customer],
                    json={"text_version": "v1"})
    assert r.status_code == 201, r.json
    r = client.post(f"/applications/{app_id}/authorization", headers=h[consultant],
                    data={"file": file()}, content_type="multipart/form-data")
    assert r.status_code == 201, r.json
    r = client.post(f"/applications/{app_id}/submit?wait=20", headers=h[consultant])
    assert r.status_code == 200, r.json
    return r.json


def approvable_world_application(engine, decisions, world_facts, world_entities) -> dict:
    """`world_application` for the first application approved at its world time, with its
    customer, two consultants of its dealer and a reviewer."""
    return world_application(
        engine, decisions, world_facts, world_entities, lambda r: r.outcome == "approve",
        prefix="real", roles={"cust": Role.CUSTOMER, "sc": Role.CONSULTANT,
                              "sc2": Role.CONSULTANT, "rev": Role.REVIEWER})


def liveness_until_pass(client, headers, path: str) -> dict:
    """Post selfies to a liveness step until one passes (the sandbox scores each one; a
    failure may be retried): the passing answer."""
    for attempt in range(12):
        r = client.post(path, headers=headers, content_type="multipart/form-data",
                        data={"selfie": file(JPEG + bytes([attempt]), "me.jpg")})
        assert r.status_code == 201, r.json
        if r.json["passed"]:
            return r.json
    raise AssertionError("liveness never passed")
