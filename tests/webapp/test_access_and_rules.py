"""Access control (every role × every endpoint), 409 on illegal steps, idempotent replays,
validation (422 naming the field, never 500) and uploads."""

from __future__ import annotations

import pytest

from chedaitong_sim.testing import signed_pdf

from .conftest import JPEG, PDF, file, grant_consent, new_application, register_customer

ROLES = ("anonymous", "customer", "other_customer", "c1", "c2", "c3", "r1", "an", "co", "ad",
         "pay", "trk")
# (method, path template, roles that get past auth and ownership, i.e. not 401/403/404)
MATRIX = [
    ("GET", "/me", {"customer", "other_customer", "c1", "c2", "c3", "r1", "an", "co", "ad",
                    "pay", "trk"}),
    ("GET", "/customers/me", {"customer", "other_customer"}),
    ("GET", "/customers/{cid}", {"r1", "an", "ad"}),
    ("POST", "/customers/me/id-check", {"customer", "other_customer"}),
    ("GET", "/applications", {"customer", "other_customer", "c1", "c2", "c3", "r1", "an",
                              "ad"}),
    ("GET", "/applications/{aid}", {"customer", "c1", "r1", "an", "ad"}),
    ("GET", "/applications/{aid}/history", {"customer", "c1", "r1", "an", "ad"}),
    ("POST", "/applications/{aid}/submit", {"c1"}),
    ("POST", "/applications/{aid}/consent", {"customer"}),
    ("POST", "/applications/{aid}/consent/revoke", {"customer"}),
    ("GET", "/applications/{aid}/consent", {"customer", "c1", "r1", "an", "ad"}),
    ("POST", "/applications/{aid}/plan", {"customer"}),
    ("POST", "/applications/{aid}/contract", {"c1"}),
    ("GET", "/applications/{aid}/contract", {"customer", "c1", "r1", "an", "ad"}),
    ("POST", "/applications/{aid}/pickup", {"c1"}),
    ("GET", "/applications/{aid}/documents", {"c1", "r1", "an", "ad"}),
    ("GET", "/applications/{aid}/voucher", {"c1", "r1", "ad"}),
    ("POST", "/applications/{aid}/book", {"r1", "ad"}),
    ("GET", "/reviews", {"r1", "ad"}),
    ("POST", "/reviews/{aid}", {"r1"}),  # an admin administers, never approves
    ("POST", "/vouchers/verify", {"c1", "c2", "c3", "r1", "ad"}),
    ("POST", "/admin/users", {"ad"}),
    # dealers, payouts, profile updates, ID-card photos, collections, partner ingest (#21)
    ("POST", "/admin/dealers", {"ad"}),
    ("GET", "/admin/dealers", {"r1", "ad"}),
    ("GET", "/admin/dealers/{did}", {"r1", "ad"}),
    ("PATCH", "/admin/dealers/{did}", {"ad"}),
    ("POST", "/admin/dealers/{did}/account-changes/1/decision", {"ad"}),
    ("GET", "/admin/dealers/account-changes", {"ad"}),
    ("POST", "/admin/dealers/{did}/consultants", {"ad"}),
    ("PATCH", "/admin/consultants/{uid}", {"ad"}),
    ("GET", "/admin/dealers/{did}/stock", {"c1", "c2", "r1", "ad"}),  # c3: another dealer
    ("PUT", "/admin/dealers/{did}/stock", {"ad"}),
    ("GET", "/admin/audit", {"ad"}),
    ("GET", "/payouts", {"r1", "ad"}),
    ("GET", "/payouts/{pid}", {"r1", "ad"}),
    ("POST", "/payouts/export", {"ad"}),
    ("POST", "/payouts/reconcile", {"ad"}),
    ("POST", "/payouts/{pid}/retry", {"ad"}),
    ("POST", "/payouts/send", {"ad"}),
    ("POST", "/payouts/sync", {"ad"}),
    ("PATCH", "/customers/me/profile", {"customer", "other_customer"}),
    ("GET", "/customers/me/profile/history", {"customer", "other_customer"}),
    ("POST", "/customers/me/id-card", {"customer", "other_customer"}),
    ("GET", "/collections/cases", {"co", "ad"}),
    ("GET", "/collections/cases/{lid}", {"co", "ad"}),
    ("POST", "/collections/cases/{lid}/outcomes", {"co", "ad"}),
    ("POST", "/collections/cases/{lid}/call", {"co", "ad"}),
    ("POST", "/ingest/repayments", {"pay"}),
    ("POST", "/ingest/vehicle-positions", {"trk"}),
]


def _partner_tokens(engine) -> dict[str, dict[str, str]]:
    """A payment channel (pay) and a vehicle tracker (trk) account, each with a token."""
    from sqlalchemy.orm import Session

    from chedaitong.db import Role, User
    from decisioning.origination.accounts import issue_token

    out = {}
    with Session(engine) as s:
        for name, role in (("pay", Role.PAYMENT_CHANNEL), ("trk", Role.VEHICLE_TRACKER)):
            u = User(username=f"partner-{name}", display_name=name, role=role)
            s.add(u)
            s.flush()
            out[name] = {"Authorization": f"Bearer {issue_token(s, u)}"}
        s.commit()
    return out


@pytest.fixture
def world(api, staff, engine):
    client = api.test_client()
    tok, idn = register_customer(client, "owner", 10)
    other, _ = register_customer(client, "other", 11)
    app = new_application(client, staff, "c1", idn)
    headers = {"anonymous": {}, "customer": {"Authorization": f"Bearer {tok}"},
               "other_customer": {"Authorization": f"Bearer {other}"}}
    headers.update({k: staff.h(k) for k in staff.tokens})
    headers.update(_partner_tokens(engine))
    cid = client.get("/customers/me", headers=headers["customer"]).json["id"]
    return client, headers, app["id"], cid


@pytest.mark.parametrize(("method", "path", "allowed"), MATRIX,
                         ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_access_matrix(world, staff, method, path, allowed):
    client, headers, aid, cid = world
    url = path.format(aid=aid, cid=cid, did=staff.dealers["DA"], uid=staff.users["c2"],
                      pid=1, lid=1)
    for role in ROLES:
        r = client.open(url, method=method, headers=headers[role], json={})
        denied = r.status_code in (401, 403, 404)
        assert r.status_code != 500, (role, url, r.json)
        if role == "anonymous":
            assert r.status_code == 401, (role, url, r.status_code)
        elif role in allowed:
            assert not denied or (r.status_code == 404 and "visible" not in r.json["message"]
                                  and "no" in r.json["message"]), (role, url, r.json)
        else:
            assert denied, (role, url, r.status_code, r.json)


def test_nobody_sees_raw_device_data_or_full_identifiers(world):
    client, headers, aid, cid = world
    r = client.post("/customers/me/device/sms", headers=headers["customer"], json={"records": [
        {"event_time": "2026-11-01T08:00:00+00:00", "sender": "95588",
         "text": "您的信用卡已逾期，请尽快还款 SECRETMARK"}]})
    assert r.status_code == 201
    for role in ("r1", "an", "ad"):
        body = client.get(f"/customers/{cid}", headers=headers[role]).get_data(as_text=True)
        assert "SECRETMARK" not in body and "95588" not in body and '"sms":1' in body
        detail = client.get(f"/applications/{aid}", headers=headers[role]).get_data(as_text=True)
        assert "SECRETMARK" not in detail and "features" not in detail
        assert "110101198806150" not in body + detail
    for path in (f"/customers/{cid}/device/sms", f"/customers/{cid}/raw", "/raw_events"):
        assert client.get(path, headers=headers["ad"]).status_code in (404, 405)


def test_consultant_lists_only_own_orders(world, staff):
    client, headers, aid, _ = world
    assert client.get("/applications", headers=headers["c2"]).json["total"] == 0
    assert client.get("/applications", headers=headers["c3"]).json["total"] == 0
    page = client.get("/applications?page=1&page_size=1", headers=headers["c1"]).json
    assert page["total"] == 1 and page["items"][0]["id"] == aid
    assert client.get("/applications?state=nonsense", headers=headers["c1"]).status_code == 422


def test_illegal_steps_answer_409_with_state_and_allowed_actions(world):
    client, headers, aid, _ = world
    r = client.post(f"/applications/{aid}/pickup", headers=headers["c1"])
    assert r.status_code == 409
    assert r.json["current_state"] == "approved"
    assert r.json["allowed_actions"] == ["choose_plan", "reapply"]
    r = client.post(f"/applications/{aid}/contract", headers=headers["c1"])
    assert r.status_code == 409 and r.json["current_state"] == "approved"
    r = client.post(f"/applications/{aid}/submit?wait=20", headers=headers["c1"])
    assert r.status_code == 409
    r = client.post(f"/reviews/{aid}", headers=headers["r1"],
                    json={"decision": "approve", "notes": "x"})
    assert r.status_code == 409 and r.json["current_state"] == "approved"


def test_submit_needs_the_authorisation_document(api, staff):
    client = api.test_client()
    from .conftest import APPLICATION

    token, idn = register_customer(client, "noauth", 12)
    draft = client.post("/applications", headers=staff.h("c1"),
                        json={**APPLICATION, "id_number": idn}).json
    r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
    assert r.status_code == 409 and "consent" in r.json["message"]
    grant_consent(client, token, draft["id"])
    r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
    assert r.status_code == 409 and "authorisation" in r.json["message"]


def test_idempotent_create_replays_the_first_response(api, staff):
    client = api.test_client()
    _, idn = register_customer(client, "idem", 13)
    from .conftest import APPLICATION

    body = {**APPLICATION, "id_number": idn}
    h = staff.h("c1", **{"Idempotency-Key": "k-1"})
    first = client.post("/applications", headers=h, json=body)
    again = client.post("/applications", headers=h, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json["id"] == again.json["id"] and again.headers["Idempotent-Replayed"]
    assert client.get("/applications", headers=staff.h("c1")).json["total"] == 1
    changed = client.post("/applications", headers=h, json={**body, "term_months": 24})
    assert changed.status_code == 422
    other = client.post("/applications", headers=staff.h("c2", **{"Idempotency-Key": "k-1"}),
                        json=body)
    assert other.status_code == 201 and other.json["id"] != first.json["id"]


@pytest.mark.parametrize(("patch", "field"), [
    ({"id_number": "123"}, "id_number"),
    ({"loan_amount": "abc"}, "loan_amount"),
    ({"term_months": 7}, "term_months"),
    ({"lease_type": "rent"}, "lease_type"),
    ({"vehicle_price": "NaN"}, "vehicle_price"),
    ({"extra": 1}, "extra"),
])
def test_bad_application_fields_are_named(api, staff, patch, field):
    from .conftest import APPLICATION, id_number

    body = {**APPLICATION, "id_number": id_number(99), **patch}
    r = api.test_client().post("/applications", headers=staff.h("c1"), json=body)
    assert r.status_code == 422 and field in r.json["errors"]["json"], r.json


def test_business_validation_names_the_field(api, staff):
    from .conftest import APPLICATION

    client = api.test_client()
    _, idn = register_customer(client, "biz", 14)
    r = client.post("/applications", headers=staff.h("c1"),
                    json={**APPLICATION, "id_number": idn, "loan_amount": "240000.00"})
    assert r.status_code == 422 and "loan_amount" in r.json["errors"]["json"]


def test_device_upload_rejections_name_record_and_field(api):
    client = api.test_client()
    tok, _ = register_customer(client, "dev", 15)
    me = {"Authorization": f"Bearer {tok}"}
    r = client.post("/customers/me/device/gps", headers=me, json={"records": [
        {"event_time": "2026-11-01T08:00:00+00:00", "lat": 99, "lon": 116.4}]})
    assert r.status_code == 422 and "lat" in str(r.json["errors"])
    assert client.post("/customers/me/device/bluetooth", headers=me,
                       json={"records": [{}]}).status_code == 404


def test_uploads_are_type_and_size_checked_and_stored_by_hash(api, staff, settings):
    client = api.test_client()
    _, idn = register_customer(client, "files", 16)
    draft = new_application(client, staff, "c1", idn, submit=False)
    url = f"/applications/{draft['id']}/authorization"
    bad = client.post(url, headers=staff.h("c1"), content_type="multipart/form-data",
                      data={"file": file(b"MZ\x90\x00 an exe", "auth.pdf")})
    assert bad.status_code == 422 and "file" in bad.json["errors"]["files"]
    empty = client.post(url, headers=staff.h("c1"), content_type="multipart/form-data",
                        data={"file": file(b"", "auth.pdf")})
    assert empty.status_code == 422
    missing = client.post(url, headers=staff.h("c1"), content_type="multipart/form-data",
                          data={})
    assert missing.status_code == 422
    huge = client.post(url, headers=staff.h("c1"), content_type="multipart/form-data",
                       data={"file": file(PDF + b"0" * (11 * 1024 * 1024))})
    assert huge.status_code in (413, 422) and huge.is_json
    photo = client.post(url, headers=staff.h("c1"), content_type="multipart/form-data",
                        data={"file": file(JPEG, "auth.jpg")})
    assert photo.status_code == 422 and "PDF" in photo.json["message"]
    forged = client.post(url, headers=staff.h("c1"), content_type="multipart/form-data",
                         data={"file": file(b"%PDF-", "auth.pdf")})
    assert forged.status_code == 422 and "readable PDF" in forged.json["message"]
    # the draft already holds the helper's copy (the same bytes again would be a 409)
    signed = signed_pdf("the customer's signed copy")
    ok = client.post(url, headers=staff.h("c1"), content_type="multipart/form-data",
                     data={"file": file(signed, "auth.pdf")})
    assert ok.status_code == 201 and ok.json["content_type"] == "application/pdf"
    sha = ok.json["sha256"]
    at_rest = settings.var_dir / "uploads" / sha[:2] / sha
    assert signed not in at_rest.read_bytes()  # sealed with the data key
    assert at_rest.stat().st_mode & 0o777 == 0o600
    assert at_rest.parent.stat().st_mode & 0o777 == 0o700
    from decisioning.origination import files
    from webapp.services import EXTENSION

    assert files.load(api.extensions[EXTENSION].upload_dir, sha) == signed


def test_tokens_are_hashed_at_rest(api, staff, engine):
    from sqlalchemy import text

    with engine.connect() as conn:
        stored = {r[0] for r in conn.execute(text("SELECT token_hash FROM api_tokens"))}
    assert not stored & set(staff.tokens.values())
    r = api.test_client().get("/me", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.is_json
