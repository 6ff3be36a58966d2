"""Exposure with the REAL decision service (rules + the sample-world champion) over HTTP: the
audit's "ten loans for one car on one day" is refused, and a re-application cannot change
what the dealer entered."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, DecisionRecord
from webapp.services import EXTENSION

from .conftest import approvable_world_application, file_and_submit

VIN = "LSVAU2180N2183294"


def test_ten_loans_for_one_car_on_one_day_are_refused(real_api, engine, world_facts,
                                                      world_entities):
    decisions = real_api.extensions[EXTENSION].decisions
    world = approvable_world_application(engine, decisions, world_facts, world_entities)
    h = world["h"]
    client = real_api.test_client()
    fields = {**world["fields"], "id_number": world["id_number"], "vin": VIN}
    results = [file_and_submit(client, h, fields) for _ in range(10)]
    outcomes = [r["decision"]["outcome"] for r in results]
    assert outcomes[0] == "approve", results[0]["decision"]
    assert "approve" not in outcomes[1:], outcomes
    # the machine said why — to the reviewer; the consultant sees generic categories only
    staff_view = client.get(f"/applications/{results[1]['id']}", headers=h["rev"]).json
    codes = {r["code"] for r in staff_view["decision"]["reasons"]}
    assert {"DUPLICATE_APPLICATION", "DUPLICATE_VEHICLE"} <= codes, codes
    assert {"EXPOSURE_LIMIT"} <= {r["code"] for r in client.get(
        f"/applications/{results[2]['id']}", headers=h["rev"]).json["decision"]["reasons"]}
    dealer_view = results[1]["decision"]["reasons"]
    assert {r["source"] for r in dealer_view} == {"category"}
    with Session(engine) as s:
        record = s.scalar(select(DecisionRecord).where(
            DecisionRecord.application_id == results[1]["id"]))
        assert record.features["platform_open_applications"] == 1
        assert record.features["vehicle_financed_elsewhere"] == 1


def test_reapply_cannot_change_the_dealers_price_or_vin(real_api, engine, world_facts,
                                                        world_entities):
    decisions = real_api.extensions[EXTENSION].decisions
    world = approvable_world_application(engine, decisions, world_facts, world_entities)
    h = world["h"]
    client = real_api.test_client()
    first = file_and_submit(client, h, {**world["fields"], "id_number": world["id_number"],
                                         "vin": VIN})
    with Session(engine) as s:
        before = s.scalar(select(func.count()).select_from(Application))
    for change, field in (({"vehicle_price": "4999999.00"}, "vehicle_price"),):
        r = client.post(f"/applications/{first['id']}/reapply?wait=20", headers=h["cust"],
                        json={**change, "consent_text_version": "v1"})
        assert r.status_code == 422 and field in r.json["errors"]["json"], r.json
    r = client.post(f"/applications/{first['id']}/reapply?wait=20", headers=h["cust"],
                    json={"term_months": first["term_months"]})
    assert r.status_code == 422 and "consent_text_version" in r.json["errors"]["json"]
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Application)) == before
        assert s.get(Application, first["id"]).state == first["state"]
    # what the customer may change goes through, with their consent for the new application
    r = client.post(f"/applications/{first['id']}/reapply?wait=20", headers=h["cust"],
                    json={"down_payment": str(first["down_payment"]),
                          "consent_text_version": "v1"})
    assert r.status_code == 201, r.json
    new = r.json["application"]
    assert new["vehicle_price"] == first["vehicle_price"] and new["vin"] == VIN
