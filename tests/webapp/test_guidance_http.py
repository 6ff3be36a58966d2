"""Re-apply guidance over HTTP with the real decision service: a declined or referred
sample-world customer sees options in words, re-applies with the first one and is approved."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, Role, User
from chedaitong_sim.worldload.origination import load_world
from decisioning.origination.accounts import issue_token
from webapp.services import EXTENSION

from .conftest import WORLD, file
from .test_journey_real import (  # noqa: F401  (fixtures)
    CUSTOMERS,
    app_cipher,
    champion_root,
    real_api,
    rulebook,
    world_entities,
    world_facts,
)


def _refused_with_a_terms_option(engine, decisions, world_facts, world_entities) -> dict:  # noqa: F811
    """A loaded world application that is refused and whose first option changes only the
    terms (probed in a rolled-back transaction), with a customer and a consultant."""
    as_of = world_entities.set_index("application_id")["as_of"].to_dict()
    with Session(engine) as s:
        load_world(s, decisions.store, WORLD, customers=CUSTOMERS, facts=world_facts)
        s.commit()
        chosen = None
        for a in s.scalars(select(Application).order_by(Application.id)).all():
            with s.begin_nested() as probe:
                record = decisions.decide(s, a, as_of=as_of[a.ref].to_pydatetime())
                options = (record.guidance or {}).get("options") or []
                probe.rollback()
            if options and all(c["lever"] != "evidence" for c in options[0]["changes"]):
                chosen = a
                break
        assert chosen is not None, "no refused application with a terms-only option"
        customer = s.get(Customer, chosen.customer_id)
        people = {}
        for name, role, dealer_id in (("cust", Role.CUSTOMER, None),
                                      ("sc", Role.CONSULTANT, chosen.dealer_id)):
            u = User(username=f"guide-{name}", display_name=name, role=role, dealer_id=dealer_id)
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
        return {"fields": fields, "id_number": id_number, "h": people}


def test_a_refused_customer_reapplies_with_the_first_option_and_is_approved(
        real_api, engine, world_facts, world_entities):  # noqa: F811
    decisions = real_api.extensions[EXTENSION].decisions
    world = _refused_with_a_terms_option(engine, decisions, world_facts, world_entities)
    me, sc = world["h"]["cust"], world["h"]["sc"]
    client = real_api.test_client()
    r = client.post("/applications", headers=sc,
                    json={**world["fields"], "id_number": world["id_number"]})
    assert r.status_code == 201, r.json
    app_id = r.json["id"]
    # the (verified) world customer consents to this application's credit inquiry
    r = client.post(f"/applications/{app_id}/consent", headers=me, json={"text_version": "v1"})
    assert r.status_code == 201, r.json
    assert client.post(f"/applications/{app_id}/authorization", headers=sc,
                       data={"file": file()},
                       content_type="multipart/form-data").status_code == 201
    r = client.post(f"/applications/{app_id}/submit?wait=20", headers=sc)
    assert r.status_code == 200 and r.json["state"] in ("declined", "referred"), r.json

    # the customer sees the options in words, with the plan they would get
    seen = client.get(f"/applications/{app_id}", headers=me).json["decision"]
    options = seen["guidance"]
    assert 1 <= len(options) <= 3 and options[0]["rank"] == 1
    first = options[0]
    assert first["text_en"] and first["text_zh"] and first["plan"]["first_installment"]
    text = " ".join(o["text_en"] + o["text_zh"] for o in options)
    assert not re.search(r"GPS|SMS|device|contact|%|\b0\.\d", text), text
    assert "features" not in seen and world["id_number"] not in str(seen)

    # re-applying with exactly the first option's terms approves, with that plan
    changes = {k: v for k, v in first["terms"].items()
               if k in ("vehicle_brand", "vehicle_model", "vehicle_price", "down_payment",
                        "loan_amount", "term_months")}
    r = client.post(f"/applications/{app_id}/reapply?wait=20", headers=me,
                    json={**changes, "consent_text_version": "v1"})  # consent for the new one
    assert r.status_code == 201, r.json
    new = r.json["application"]
    assert new["previous_id"] == app_id
    assert new["state"] == "approved", new["decision"]
    assert new["offers"][0]["product_id"] == first["plan"]["product_id"]
    assert new["decision"]["guidance"] == []
