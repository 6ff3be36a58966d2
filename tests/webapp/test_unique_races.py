"""Concurrent duplicates that reach a unique constraint: one request wins, the others get a
409 naming the conflicting field — never a 500 (the audit saw 24 of them)."""

from __future__ import annotations

import functools
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, RawEvent
from chedaitong.db.origination import StoredDocument
from decisioning.origination import state_machine
from webapp.conflicts import FIELD_NAMES, _unique_columns, conflict_for

from .conftest import APPLICATION, JPEG, file, id_number, new_application, register_customer

N = 6


def concurrently(app, calls) -> list:
    """Run each call (given a test client) at the same moment; their responses."""
    barrier = threading.Barrier(len(calls))
    out: list = [None] * len(calls)

    def run(i, call):
        client = app.test_client()
        barrier.wait()
        out[i] = call(client)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def assert_one_wins(responses, field: str, ok=(200, 201), where: str = "json") -> None:
    codes = [r.status_code for r in responses]
    assert not [c for c in codes if c >= 500], codes
    assert sum(c in ok for c in codes) >= 1, codes
    for r in responses:
        if r.status_code == 409:
            assert r.json["code"] == 409 and r.json["message"], r.json
            if "errors" in r.json:  # a unique violation: the field is named
                assert field in r.json["errors"][where], r.json


@pytest.fixture
def pg(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("needs real concurrent transactions: PostgreSQL (TEST_DATABASE_URL)")


PROFILE = {"name": "李四", "phone": "13900139000", "birth_date": "1988-06-15",
           "home_lat": 39.9, "home_lon": 116.4}


def test_concurrent_registrations_of_one_username(api, pg):
    body = {"username": "twin", "display_name": "t"}
    rs = concurrently(api, [lambda c: c.post("/customers/register", json=body)] * N)
    assert_one_wins(rs, "username")
    assert [r.status_code for r in rs].count(201) == 1


def test_concurrent_profile_completion_by_one_user(api, pg, engine):
    client = api.test_client()
    token = client.post("/customers/register",
                        json={"username": "prof", "display_name": "p"}).json["token"]
    bodies = [{**PROFILE, "id_number": id_number(100 + i)} for i in range(N)]
    rs = concurrently(api, [functools.partial(
        lambda c, b: c.put("/customers/me/profile", json=b,
                           headers={"Authorization": f"Bearer {token}"}), b=b) for b in bodies])
    assert_one_wins(rs, "profile")
    assert [r.status_code for r in rs].count(201) == 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 1


def test_concurrent_claims_of_one_id_number_verify_one_owner(api, pg, engine):
    """Completing a profile only *claims* an ID number (pending until the ID check and
    liveness pass), so a squatter cannot block its owner: every claim is taken. The unique
    race is the binding: claimants confirming at the same moment leave exactly one verified
    owner; the others get a 409 (or are displaced), never a 500."""
    client = api.test_client()
    tokens = [client.post("/customers/register", json={"username": f"idn{i}",
                                                        "display_name": "p"}).json["token"]
              for i in range(N)]
    idn = id_number(120)
    body = {**PROFILE, "id_number": idn, "birth_date": f"{idn[6:10]}-{idn[10:12]}-{idn[12:14]}"}
    rs = concurrently(api, [functools.partial(
        lambda c, t: c.put("/customers/me/profile", json=body,
                           headers={"Authorization": f"Bearer {t}"}), t=t) for t in tokens])
    assert [r.status_code for r in rs] == [201] * N, [(r.status_code, r.json) for r in rs]
    with Session(engine) as s:
        assert {c.identity_status for c in s.scalars(select(Customer))} == {"pending"}
    for t in tokens:  # each passes liveness first; the ID check then binds the number
        h = {"Authorization": f"Bearer {t}"}
        for attempt in range(12):
            r = client.post("/customers/me/liveness", headers=h,
                            content_type="multipart/form-data",
                            data={"selfie": file(JPEG + bytes([attempt]), "me.jpg")})
            assert r.status_code == 201, r.json
            if r.json["passed"]:
                break
        else:
            raise AssertionError("liveness never passed")
    rs = concurrently(api, [functools.partial(
        lambda c, t: c.post("/customers/me/id-check", headers={"Authorization": f"Bearer {t}"}),
        t=t) for t in tokens])
    assert_one_wins(rs, "id_number", ok=(201,))
    assert sorted(r.status_code for r in rs) == [201] + [409] * (N - 1), [r.json for r in rs]
    with Session(engine) as s:
        statuses = [c.identity_status for c in s.scalars(select(Customer))]
    assert len(statuses) == N and statuses.count("verified") == 1, statuses


def test_identical_device_uploads_at_once_store_the_records_once(api, pg, engine):
    token, _ = register_customer(api.test_client(), "gpsdup", 130)
    records = [{"event_time": f"2026-01-0{d}T08:00:00+08:00", "lat": 39.9, "lon": 116.4}
               for d in range(1, 6)]
    rs = concurrently(api, [lambda c: c.post(
        "/customers/me/device/gps", json={"records": records},
        headers={"Authorization": f"Bearer {token}"})] * N)
    assert_one_wins(rs, "records")
    assert sum(r.status_code == 201 and r.json["stored"] == 5 for r in rs) == 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(RawEvent)) == 5


def test_parallel_duplicate_document_uploads_give_one_201_and_409s(api, pg, staff, engine):
    client = api.test_client()
    _, idn = register_customer(client, "docs", 140)
    app_id = new_application(client, staff, "c1", idn, submit=False)["id"]
    with Session(engine) as s:
        s.get(Application, app_id).state = state_machine.PICKED_UP
        s.commit()
    rs = concurrently(api, [lambda c: c.post(
        f"/applications/{app_id}/documents/purchase_invoice", headers=staff.h("c1"),
        data={"file": file()}, content_type="multipart/form-data")] * N)
    assert_one_wins(rs, "file", where="files")
    assert [r.status_code for r in rs].count(201) == 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(StoredDocument).where(
            StoredDocument.application_id == app_id,
            StoredDocument.kind == "purchase_invoice")) == 1


def _pg_error(name: str):
    orig = SimpleNamespace(sqlstate="23505", diag=SimpleNamespace(constraint_name=name,
                                                                   table_name="t"))
    return IntegrityError("INSERT", {}, orig)


def test_every_unique_constraint_maps_to_409_naming_a_field():
    """Each constraint in the schema, as PostgreSQL and SQLite report it."""
    constraints = _unique_columns()
    uniques = {n: tc for n, tc in constraints.items() if n.startswith(("uq_", "ix_"))}
    assert len(uniques) >= 15
    for name, (table, columns) in uniques.items():
        sqlite = IntegrityError("INSERT", {}, Exception(
            "UNIQUE constraint failed: " + ", ".join(f"{table}.{c}" for c in columns)))
        for exc in (_pg_error(name), sqlite):
            err = conflict_for(exc)
            assert err is not None and err.code == 409, name
            (fields,) = err.data["messages"].values()
            (field,) = fields
            assert field in columns or field in FIELD_NAMES.values(), (name, field)
    assert conflict_for(IntegrityError("INSERT", {}, Exception("NOT NULL constraint failed"))) \
        is None


def test_the_last_checklist_document_uploaded_at_once_completes_the_file_once(api, pg, staff,
                                                                             engine):
    from decisioning.origination.applications import CHECKLIST

    client = api.test_client()
    _, idn = register_customer(client, "lastdoc", 150)
    app_id = new_application(client, staff, "c1", idn, submit=False)["id"]
    with Session(engine) as s:
        s.get(Application, app_id).state = state_machine.PICKED_UP
        s.commit()
    *first, last = CHECKLIST
    for i, kind in enumerate(first):
        r = client.post(f"/applications/{app_id}/documents/{kind}", headers=staff.h("c1"),
                        data={"file": file(PDF_OF(i))}, content_type="multipart/form-data")
        assert r.status_code == 201, r.json
    rs = concurrently(api, [functools.partial(lambda c, n: c.post(
        f"/applications/{app_id}/documents/{last}", headers=staff.h("c1"),
        data={"file": file(PDF_OF(100 + n))}, content_type="multipart/form-data"), n=n)
        for n in range(N)])
    assert_one_wins(rs, "file", where="files")
    with Session(engine) as s:
        assert s.get(Application, app_id).state != state_machine.PICKED_UP
        assert s.scalar(select(func.count()).select_from(StoredDocument).where(
            StoredDocument.application_id == app_id, StoredDocument.kind == last)) == 1


def PDF_OF(n: int) -> bytes:  # noqa: N802 - reads as a constant maker
    return b"%PDF-1.4\n% document " + str(n).encode() + b"\n"


def test_six_concurrent_consents_store_one(api, pg, staff, engine):
    """Six POST …/consent at once stored six consents of one purpose; now one, and every
    answer is that one."""
    from chedaitong.db.origination import CreditConsent

    client = api.test_client()
    token, idn = register_customer(client, "sixfold", 160)
    app_id = client.post("/applications", headers=staff.h("c1"),
                         json={**APPLICATION, "id_number": idn}).json["id"]
    rs = concurrently(api, [lambda c: c.post(
        f"/applications/{app_id}/consent", json={"text_version": "v1"},
        headers={"Authorization": f"Bearer {token}"})] * N)
    assert [r.status_code for r in rs] == [201] * N, [(r.status_code, r.json) for r in rs]
    assert len({r.json["id"] for r in rs}) == 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(CreditConsent).where(
            CreditConsent.application_id == app_id)) == 1


def test_concurrent_payout_account_requests_and_approvals_decide_once(api, pg, staff, engine):
    """Six admins' PATCHes of one dealer's payout account at once file one pending change (the
    others 409, never a 500); two checkers approving it at once: one approval, one 409."""
    from .conftest import add_admin

    did, client = staff.dealers["DA"], api.test_client()
    makers = [add_admin(engine, staff, f"maker{i}") for i in range(N)]
    checkers = [add_admin(engine, staff, f"checker{i}") for i in range(2)]
    r = client.patch(f"/admin/dealers/{did}", headers=staff.h("ad"), json={
        "agreement_ref": "AGR-RACE", "effective_from": "2026-01-01", "bank_name": "工商银行",
        "account_name": "4S DA", "account_number": "6222000011112222"})
    first = r.json["pending_account_change"]["id"]
    assert client.post(f"/admin/dealers/{did}/account-changes/{first}/decision",
                       headers=staff.h(checkers[0]),
                       json={"decision": "approve"}).status_code == 200
    rs = concurrently(api, [functools.partial(
        lambda c, who, i: c.patch(f"/admin/dealers/{did}", headers=staff.h(who), json={
            "account_number": f"62220000333300{i:02d}"}), who=who, i=i)
        for i, who in enumerate(makers)])
    codes = sorted(r.status_code for r in rs)
    assert codes.count(200) >= 1 and set(codes) <= {200, 409}, codes
    pending = [r.json["pending_account_change"] for r in rs if r.status_code == 200]
    assert len({p["id"] for p in pending}) == 1, pending
    change = pending[0]
    url = f"/admin/dealers/{did}/account-changes/{change['id']}/decision"
    rs = concurrently(api, [functools.partial(
        lambda c, who: c.post(url, headers=staff.h(who), json={"decision": "approve"}),
        who=who) for who in checkers])
    assert sorted(r.status_code for r in rs) == [200, 409], [r.json for r in rs]
    with Session(engine) as s:
        from chedaitong.db.partners import AuditEvent

        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "dealer.account_approved")) == 2  # the first, and this
