"""Re-apply guidance over HTTP with the real decision service: a declined or referred
sample-world customer sees options in words, re-applies with the first one and is approved."""

from __future__ import annotations

import re

from chedaitong.db import Role
from webapp.services import EXTENSION

from .conftest import file_and_submit, world_application

REAPPLY_LEVERS = {"down_payment", "term_months"}  # a cheaper car is a new order by the dealer


def _has_terms_option(record) -> bool:
    """Refused, and the first option changes only what a re-application may change (the down
    payment, the term): no evidence to supply, no other car."""
    options = (record.guidance or {}).get("options") or []
    return bool(options) and {c["lever"] for c in options[0]["changes"]} <= REAPPLY_LEVERS


def test_a_refused_customer_reapplies_with_the_first_option_and_is_approved(
        real_api, engine, world_facts, world_entities):
    decisions = real_api.extensions[EXTENSION].decisions
    world = world_application(engine, decisions, world_facts, world_entities,
                              _has_terms_option, prefix="guide",
                              roles={"cust": Role.CUSTOMER, "sc": Role.CONSULTANT})
    me = world["h"]["cust"]
    client = real_api.test_client()
    detail = file_and_submit(client, world["h"],
                             {**world["fields"], "id_number": world["id_number"]})
    app_id = detail["id"]
    assert detail["state"] in ("declined", "referred"), detail

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
               if k in ("down_payment", "loan_amount", "term_months")}
    assert first["terms"]["vehicle_price"] == world["fields"]["vehicle_price"]
    r = client.post(f"/applications/{app_id}/reapply?wait=20", headers=me,
                    json={**changes, "consent_text_version": "v1"})  # consent for the new one
    assert r.status_code == 201, r.json
    new = r.json["application"]
    assert new["previous_id"] == app_id
    assert new["state"] == "approved", new["decision"]
    assert new["offers"][0]["product_id"] == first["plan"]["product_id"]
    assert new["decision"]["guidance"] == []
