"""Profile updates (emergency contacts, income) before submitting, after a decision to
re-apply, never while an application is carried out; ID-card photos failed by the vendor."""

from __future__ import annotations

import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import FeatureFact

from .conftest import JPEG, new_application, register_customer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CONTACT = {"relation": "parent", "name": "张父", "phone": "13700137001"}


def photos(front: bytes, back: bytes) -> dict:
    return {"front": (io.BytesIO(front), "front.jpg"), "back": (io.BytesIO(back), "back.png")}


def test_profile_updates_open_until_a_plan_is_carried_out_and_reapply_uses_them(api, staff):
    client = api.test_client()
    token, idn = register_customer(client, "upd", 31)
    me = {"Authorization": f"Bearer {token}"}
    r = client.patch("/customers/me/profile", headers=me,
                     json={"emergency_contacts": [{**CONTACT, "phone": "123"}]})
    assert r.status_code == 422 and "emergency_contacts" in r.json["errors"]["json"]
    assert client.patch("/customers/me/profile", headers=me, json={}).status_code == 422
    assert client.patch("/customers/me/profile", headers=me,
                        json={"name": "改名"}).status_code == 422  # identity is not editable
    r = client.patch("/customers/me/profile", headers=me,
                     json={"emergency_contacts": [CONTACT], "phone": "13800131031"})
    assert r.status_code == 200 and set(r.json["changed"]) == {"emergency_contacts", "phone"}
    assert r.json["emergency_contacts"][0]["phone_masked"] == "137****7001"
    assert client.get("/customers/me", headers=me).json["phone_masked"] == "138****1031"
    same = client.patch("/customers/me/profile", headers=me, json={"phone": "13800131031"})
    assert same.json["changed"] == []  # nothing changed, no history row

    first = new_application(client, staff, "c1", idn)
    assert first["state"] == "approved"
    r = client.patch("/customers/me/profile", headers=me, json={"monthly_income": 18000})
    assert r.status_code == 200  # decided: the customer may complete the file and re-apply
    r = client.post(f"/applications/{first['id']}/reapply?wait=20", headers=me,
                    json={"consent_text_version": "v1"})  # a consent is per application
    assert r.status_code == 201, r.json
    second = r.json["application"]["id"]
    assert client.post(f"/applications/{second}/plan", headers=me, json={}).status_code == 200
    r = client.patch("/customers/me/profile", headers=me, json={"monthly_income": 99000})
    assert r.status_code == 409 and r.json["current_state"] == "plan_chosen"
    history = client.get("/customers/me/profile/history", headers=me).json
    assert [sorted(h["fields"]) for h in history] == [["emergency_contacts", "phone"],
                                                     ["monthly_income"]]
    assert "13700137001" not in str(history) and "18000" not in str(history)


def test_id_card_photos_failed_by_the_vendor_are_a_failed_id_check(api, staff, engine):
    client = api.test_client()
    # identity not yet confirmed: the photos are the customer's first ID-card check
    token, _ = register_customer(client, "photo", 32, verify=False)
    me = {"Authorization": f"Bearer {token}"}
    r = client.post("/customers/me/id-card", headers=me, content_type="multipart/form-data",
                    data=photos(JPEG + b"TAMPERED", PNG))
    assert r.status_code == 201 and not r.json["passed"] and "PHOTO_TAMPERED" in r.json["detail"]
    assert client.get("/customers/me", headers=me).json["checks"]["id_card"] is False
    with Session(engine) as s:  # the evidence id_card_verified is computed from
        facts = s.scalars(select(FeatureFact.value).where(
            FeatureFact.source == "identity", FeatureFact.kind == "id_card")).all()
        assert facts == [0.0]
    r = client.post("/customers/me/id-card", headers=me, content_type="multipart/form-data",
                    data=photos(JPEG, JPEG))
    assert r.status_code == 422 and "back" in r.json["errors"]["json"]
    r = client.post("/customers/me/id-card", headers=me, content_type="multipart/form-data",
                    data={"front": (io.BytesIO(b"%PDF-1.4 x"), "f.pdf"),
                          "back": (io.BytesIO(PNG), "b.png")})
    assert r.status_code == 422 and "front" in r.json["errors"]["files"]
    r = client.post("/customers/me/id-card", headers=me, content_type="multipart/form-data",
                    data=photos(JPEG + b"ok", PNG + b"ok"))
    assert r.json["passed"]
    assert client.get("/customers/me", headers=me).json["checks"]["id_card"] is True


def test_an_id_vendor_outage_records_no_check(api, staff, sandbox):
    import httpx

    client = api.test_client()
    token, _ = register_customer(client, "outage", 33, verify=False)  # no ID check yet
    me = {"Authorization": f"Bearer {token}"}
    admin = f"{sandbox.base_url}/_admin/outage"
    httpx.post(admin, json={"vendor": "id_check", "down": True})
    try:
        r = client.post("/customers/me/id-card", headers=me, content_type="multipart/form-data",
                        data=photos(JPEG + b"f", PNG + b"b"))
    finally:
        httpx.post(admin, json={"vendor": "id_check", "down": False})
    assert r.status_code == 502 and "id_check" in r.json["message"]
    assert "id_card" not in client.get("/customers/me", headers=me).json["checks"]
