"""Idempotency keys are reserved before the work: N parallel requests with one key create one
object and all get the same answer; errors replay too; keys are per user and endpoint, expire,
and a replayed token creation never shows (or stores) the token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from chedaitong.db import Application
from chedaitong.db.origination import IdempotencyRecord

from .conftest import APPLICATION, add_admin, id_number, register_customer
from .test_unique_races import concurrently

N = 8


def test_parallel_requests_with_one_key_create_one_application(api, staff, engine):
    client = api.test_client()
    _, idn = register_customer(client, "idem-par", 50)
    h = staff.h("c1", **{"Idempotency-Key": "par-1"})
    body = {**APPLICATION, "id_number": idn}
    rs = concurrently(api, [lambda c: c.post("/applications", headers=h, json=body)] * N)
    assert [r.status_code for r in rs] == [201] * N, [(r.status_code, r.json) for r in rs]
    assert len({r.json["id"] for r in rs}) == 1
    assert all(r.json == rs[0].json for r in rs)  # the same answer
    assert sum("Idempotent-Replayed" in r.headers for r in rs) == N - 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Application)) == 1


def _set_dealer(client, staff, status: str) -> None:
    """An admin suspends or reactivates dealer DA (c1's): a suspended dealer cannot file.

    (Filing under an unregistered ID number is no longer refused: the application waits for
    the customer's consent, so a consultant learns nothing about who is a customer.)"""
    r = client.patch(f"/admin/dealers/{staff.dealers['DA']}", headers=staff.h("ad"),
                     json={"status": status, "reason": "test"})
    assert r.status_code == 200 and r.json["status"] == status, r.json


def test_parallel_refused_requests_with_one_key_get_the_same_error(api, staff, engine):
    _set_dealer(api.test_client(), staff, "suspended")
    h = staff.h("c1", **{"Idempotency-Key": "par-err"})
    body = {**APPLICATION, "id_number": id_number(999)}
    rs = concurrently(api, [lambda c: c.post("/applications", headers=h, json=body)] * N)
    codes = {r.status_code for r in rs}
    assert codes == {409}, [r.json for r in rs]
    assert rs[0].json["dealer_status"] == "suspended"
    assert all(r.json == rs[0].json for r in rs)
    assert sum("Idempotent-Replayed" in r.headers for r in rs) == N - 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Application)) == 0


def test_errors_are_replayed_and_keys_are_per_endpoint(api, staff):
    client = api.test_client()
    h = staff.h("c1", **{"Idempotency-Key": "k-err"})
    body = {**APPLICATION, "id_number": id_number(999)}
    _set_dealer(client, staff, "suspended")
    first = client.post("/applications", headers=h, json=body)
    assert first.status_code == 409 and first.json["dealer_status"] == "suspended"
    _set_dealer(client, staff, "active")  # the dealer may file again now ...
    replay = client.post("/applications", headers=h, json=body)
    assert replay.status_code == first.status_code  # ... but the key's answer stands
    assert replay.json == first.json and replay.headers["Idempotent-Replayed"] == "true"
    # a new key is a new request, and it is filed
    fresh = client.post("/applications", headers=staff.h("c1", **{"Idempotency-Key": "k-new"}),
                        json=body)
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers
    # the same key on another endpoint is another request
    other = client.post("/applications/999999/contract", headers=h)
    assert other.status_code == 404 and "Idempotent-Replayed" not in other.headers


def test_expired_keys_do_the_work_again(api, staff, engine):
    client = api.test_client()
    _, idn = register_customer(client, "expire", 52)
    h = staff.h("c1", **{"Idempotency-Key": "k-exp"})
    body = {**APPLICATION, "id_number": idn}
    first = client.post("/applications", headers=h, json=body)
    with Session(engine) as s:
        s.execute(update(IdempotencyRecord).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        s.commit()
    again = client.post("/applications", headers=h, json=body)
    assert again.status_code == 201 and again.json["id"] != first.json["id"]


def test_a_replayed_token_creation_does_not_show_or_store_the_token(api, staff, engine):
    """The activation of a requested staff account answers with its first token."""
    client = api.test_client()
    body = {"username": "admin2", "display_name": "A2", "role": "admin"}
    requested = client.post("/admin/users", headers=staff.h("ad"), json=body)
    assert requested.status_code == 201 and requested.json["activation"] == "pending"
    h = staff.h(add_admin(engine, staff), **{"Idempotency-Key": "new-admin"})
    path = f"/admin/users/{requested.json['user_id']}/activation"
    first = client.post(path, headers=h, json={"decision": "approve"})
    assert first.status_code == 200 and first.json["token"].startswith("cdt_")
    replay = client.post(path, headers=h, json={"decision": "approve"})
    assert replay.status_code == 200 and replay.json["token"] is None
    assert "already" in replay.json["secret_note"] or "not shown" in replay.json["secret_note"]
    assert replay.json["user_id"] == first.json["user_id"]
    with engine.connect() as conn:
        stored = " ".join(str(r[0]) for r in conn.execute(
            text("SELECT response_json FROM idempotency_keys")))
    assert first.json["token"] not in stored
    assert client.get("/me", headers={"Authorization": f"Bearer {first.json['token']}"}
                      ).status_code == 200


def test_a_stored_answer_is_sealed_and_replays_whole(api, staff, engine):
    """The body kept for replay is encrypted at rest (an answer may hold personal data: a
    payout export's bank file has full account numbers); the replay is the first answer."""
    client = api.test_client()
    _, idn = register_customer(client, "idem-sealed", 53)
    h = staff.h("c1", **{"Idempotency-Key": "sealed-1"})
    body = {**APPLICATION, "id_number": idn}
    first = client.post("/applications", headers=h, json=body)
    replay = client.post("/applications", headers=h, json=body)
    assert first.status_code == replay.status_code == 201
    assert replay.json == first.json and replay.headers["Idempotent-Replayed"] == "true"
    with engine.connect() as conn:
        stored = " ".join(str(r[0]) for r in conn.execute(
            text("SELECT response_json FROM idempotency_keys")))
    assert "sealed" in stored
    for value in (first.json["ref"], first.json["dealer_name"], first.json["vehicle_model"]):
        assert value and value not in stored


def test_a_replayed_consultant_invitation_does_not_show_or_store_the_token(api, staff, engine):
    """The invitation answers with the consultant's first token, like /admin/users, but was
    kept whole: the bearer token sat in clear in idempotency_keys and came back in replays."""
    client = api.test_client()
    h = staff.h("ad", **{"Idempotency-Key": "invite-lihua"})
    url, body = f"/admin/dealers/{staff.dealers['DA']}/consultants", {
        "username": "lihua", "display_name": "李华"}
    first = client.post(url, headers=h, json=body)
    assert first.status_code == 201 and first.json["token"].startswith("cdt_")
    replay = client.post(url, headers=h, json=body)
    assert replay.status_code == 201 and replay.json["token"] is None
    assert replay.json["id"] == first.json["id"] and "not shown" in replay.json["secret_note"]
    with engine.connect() as conn:
        stored = " ".join(str(r[0]) for r in conn.execute(
            text("SELECT response_json FROM idempotency_keys")))
    assert first.json["token"] not in stored
