"""The whole journey over HTTP with the REAL decision service: a sample-world customer whose
application the rules and a champion trained on the sample world approve, from the
consultant's order to a booked loan in servicing."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import DecisionRecord
from decisioning.origination.applications import CHECKLIST
from servicing.schedule import offer_summary
from webapp.services import EXTENSION

from .conftest import (
    PDF,
    approvable_world_application,
    file,
    file_and_submit,
    liveness_until_pass,
)


def test_world_customer_journey_with_the_real_decision_service(real_api, engine, world_facts,
                                                               world_entities):
    from chedaitong.db.servicing import Loan, ScheduledInstallment

    decisions = real_api.extensions[EXTENSION].decisions
    world = approvable_world_application(engine, decisions, world_facts, world_entities)
    h = world["h"]
    me, sc, rev = h["cust"], h["sc"], h["rev"]
    client = real_api.test_client()

    # the world customer (identity verified by the platform's books) signs in
    profile = client.get("/customers/me", headers=me)
    assert profile.status_code == 200 and profile.json["id"] == world["customer_id"]

    # the consultant files the same order at the world dealer; the customer confirms it and
    # consents to the credit inquiry in the app; the consultant submits → real decision
    detail = file_and_submit(client, h, {**world["fields"], "id_number": world["id_number"]})
    app_id = detail["id"]
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
    liveness_until_pass(client, me, f"/applications/{app_id}/liveness")

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
