"""The whole journey over HTTP with the REAL decision service: a sample-world customer whose
application the rules and a champion trained on the sample world approve, from the
consultant's order to a booked loan in servicing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.config import Settings
from chedaitong.crypto import DataCipher
from chedaitong.db import Application, Customer, DecisionRecord, Role, User
from chedaitong_sim.testing import fast_vendors
from chedaitong_sim.worldload.origination import load_world
from decisioning.origination.accounts import issue_token
from decisioning.origination.applications import CHECKLIST
from decisioning.service import DecisionService
from featurestore import catalog, offline
from featurestore.store import FeatureStore
from models.scoring import load_champion
from ruleengine.rulebook import RuleBook
from servicing.schedule import offer_summary
from webapp.services import EXTENSION

from .conftest import JPEG, PDF, ROOT, WORLD, file

CUSTOMERS = 40  # the first 40 sample customers hold several approvable applications


@pytest.fixture(scope="session")
def app_cipher() -> DataCipher:
    """The cipher of the test app's settings: blind indexes must match what the app looks up."""
    return DataCipher(Settings.from_env({}, env="test").data_key)


@pytest.fixture(scope="session")
def world_facts(app_cipher):
    return offline.world_facts(WORLD, app_cipher.blind_index)


@pytest.fixture(scope="session")
def world_entities():
    return offline.application_entities(WORLD)


@pytest.fixture(scope="session")
def champion_root(sample_champion_root) -> Path:
    return sample_champion_root


@pytest.fixture(scope="session")
def rulebook():
    book = RuleBook(ROOT / "rules", catalog=catalog())
    yield book
    book.close()


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


def _approvable(engine, decisions: DecisionService, world_facts, world_entities) -> dict:
    """Load the world's first customers and pick one whose application is approved at its
    world decision time (probed in a transaction that is rolled back)."""
    as_of = world_entities.set_index("application_id")["as_of"].to_dict()
    with Session(engine) as s:
        ids = load_world(s, decisions.store, WORLD, customers=CUSTOMERS, facts=world_facts)
        s.commit()
        apps = s.scalars(select(Application).order_by(Application.id)).all()
        chosen = None
        for a in apps:
            with s.begin_nested() as probe:
                outcome = decisions.decide(s, a, as_of=as_of[a.ref].to_pydatetime()).outcome
                probe.rollback()
            if outcome == "approve":
                chosen = a
                break
        assert chosen is not None, "no approvable application among the loaded customers"
        customer = s.get(Customer, chosen.customer_id)
        profile = decisions.store.profile(customer)
        people = {}
        for name, role, dealer_id in (("cust", Role.CUSTOMER, None),
                                      ("sc", Role.CONSULTANT, chosen.dealer_id),
                                      ("sc2", Role.CONSULTANT, chosen.dealer_id),
                                      ("rev", Role.REVIEWER, None)):
            u = User(username=f"real-{name}", display_name=name, role=role, dealer_id=dealer_id)
            s.add(u)
            s.flush()
            people[name] = {"Authorization": f"Bearer {issue_token(s, u)}"}
            if role is Role.CUSTOMER:
                customer.user_id = u.id
        fields = {k: getattr(chosen, k) for k in (
            "vehicle_brand", "vehicle_model", "lease_type", "term_months")}
        fields.update({k: str(getattr(chosen, k)) for k in (
            "vehicle_price", "down_payment", "loan_amount")})
        s.commit()
        return {"ref": chosen.ref, "id_number": profile.id_number, "fields": fields,
                "customer_id": customer.id, "world_customers": len(ids["customers"]),
                "h": people}


def _liveness_until_pass(client, headers, path: str) -> dict:
    for attempt in range(12):  # the sandbox scores each selfie; a failure may be retried
        r = client.post(path, headers=headers, content_type="multipart/form-data",
                        data={"selfie": file(JPEG + bytes([attempt]), "me.jpg")})
        assert r.status_code == 201, r.json
        if r.json["passed"]:
            return r.json
    raise AssertionError("liveness never passed")


def test_world_customer_journey_with_the_real_decision_service(real_api, engine, world_facts,
                                                               world_entities):
    from chedaitong.db.servicing import Loan, ScheduledInstallment

    decisions = real_api.extensions[EXTENSION].decisions
    world = _approvable(engine, decisions, world_facts, world_entities)
    h = world["h"]
    me, sc, rev = h["cust"], h["sc"], h["rev"]
    client = real_api.test_client()

    # the world customer (identity verified by the platform's books) signs in
    profile = client.get("/customers/me", headers=me)
    assert profile.status_code == 200 and profile.json["id"] == world["customer_id"]

    # the consultant files the same order at the world dealer; the customer confirms it and
    # consents to the credit inquiry in the app; the consultant submits → real decision
    r = client.post("/applications", headers=sc,
                    json={**world["fields"], "id_number": world["id_number"]})
    assert r.status_code == 201, r.json
    app_id = r.json["id"]
    r = client.post(f"/applications/{app_id}/consent", headers=me, json={"text_version": "v1"})
    assert r.status_code == 201, r.json
    r = client.post(f"/applications/{app_id}/authorization", headers=sc,
                    data={"file": file()}, content_type="multipart/form-data")
    assert r.status_code == 201, r.json
    r = client.post(f"/applications/{app_id}/submit?wait=20", headers=sc)
    assert r.status_code == 200, r.json
    detail = r.json
    assert detail["state"] == "approved", detail["decision"]
    decision = detail["decision"]
    assert decision["outcome"] == "approve"
    assert "features" not in decision and world["id_number"] not in str(detail)
    offers = detail["offers"]
    assert offers and offers[0]["recommended"]
    for offer in offers:  # priced by servicing's schedule arithmetic
        quote = offer_summary(Decimal(offer["financed_amount"]), Decimal(offer["annual_rate"]),
                              offer["term"], offer["repayment_method"])
        assert Decimal(offer["first_installment"]) == quote.monthly_installment
    assert client.get(f"/applications/{app_id}", headers=me).json["decision"]["outcome"] == \
        "approve"

    # plan (the recommended one), contract, signature, liveness
    r = client.post(f"/applications/{app_id}/plan", headers=me, json={})
    assert r.status_code == 200 and r.json["plan"]["product_id"] == offers[0]["product_id"]
    r = client.post(f"/applications/{app_id}/contract", headers=sc)
    assert r.status_code == 201, r.json
    assert "Repayment schedule" in r.json["document_text"]
    r = client.post(f"/applications/{app_id}/contract/sign", headers=me,
                    json={"verification_code": "123456"})
    assert r.status_code == 200 and r.json["status"] == "signed"
    _liveness_until_pass(client, me, f"/applications/{app_id}/liveness")

    # disbursement review → voucher, checked by a colleague at the same dealer
    queue = client.get("/reviews?kind=disbursement", headers=rev).json
    assert app_id in [q["id"] for q in queue]
    r = client.post(f"/reviews/{app_id}", headers=rev,
                    json={"decision": "approve", "notes": "world customer, documents ok"})
    assert r.status_code == 201 and r.json["state"] == "disbursed", r.json
    voucher = client.get(f"/applications/{app_id}/voucher", headers=sc).json
    assert voucher["number"] and voucher["verification_code"]
    r = client.post("/vouchers/verify", headers=h["sc2"],
                    json={"number": voucher["number"],
                          "verification_code": voucher["verification_code"]})
    assert r.status_code == 200 and r.json["valid"]

    # pickup, the document checklist, booking in servicing
    r = client.post(f"/applications/{app_id}/pickup", headers=sc)
    assert r.status_code == 200 and r.json["state"] == "picked_up"
    for kind in CHECKLIST:
        r = client.post(f"/applications/{app_id}/documents/{kind}", headers=sc,
                        data={"file": file(PDF + kind.encode())},
                        content_type="multipart/form-data")
        assert r.status_code == 201, r.json
    final = client.get(f"/applications/{app_id}", headers=sc).json
    assert final["state"] == "booked" and final["loan_ref"], final
    assert final["missing_documents"] == []

    with Session(engine) as s:
        record = s.scalar(select(DecisionRecord).where(DecisionRecord.application_id == app_id))
        assert record.model_version == decisions.model.version and record.rules_version != "stub"
        loan = s.scalar(select(Loan).where(Loan.ref == final["loan_ref"]))
        assert loan is not None and loan.application_id == app_id
        assert loan.customer_id == world["customer_id"] and loan.status == "active"
        plan = offers[0]
        assert loan.principal == Decimal(plan["financed_amount"])
        assert loan.term_months == plan["term"] and loan.product_id == plan["product_id"]
        schedule = s.scalars(select(ScheduledInstallment).where(
            ScheduledInstallment.loan_id == loan.id)).all()
        assert len(schedule) == plan["term"]
