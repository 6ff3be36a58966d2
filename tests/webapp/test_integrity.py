"""The audit's attacks over HTTP, refused (issue #14): a credit pull without the customer's
consent, consent by the consultant, identity squatting, one reviewer approving twice. The
sandbox's call log shows that nothing reached a bureau when it must not."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, DecisionRecord
from chedaitong.db.origination import CreditConsent, IdentityEvent, Voucher
from chedaitong_sim.sandbox.server import running_sandbox
from chedaitong_sim.sandbox.world import World
from chedaitong_sim.testing import fast_vendors
from decisioning.origination.consent import record_postloan_monitoring
from decisioning.service import DecisionService
from ruleengine.rulebook import RuleBook
from webapp.services import EXTENSION

from .conftest import (
    APPLICATION,
    JPEG,
    PDF,
    ROOT,
    WORLD,
    file,
    grant_consent,
    id_number,
    new_application,
    register_customer,
)

BUREAUS = ("pboc", "third_party")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def rules():
    from featurestore import catalog

    book = RuleBook(ROOT / "rules", catalog=catalog())
    yield book
    book.close()


@pytest.fixture
def pulling(api, rules, settings):
    """The test app whose decisions are the real service pulling bureau reports from the
    sandbox (no model: every decision refers, which is all these tests need)."""
    svc = api.extensions[EXTENSION]
    svc.decisions = DecisionService(store=svc.store, rules=rules, model=None,
                                    vendors=svc.vendors)
    return api


def bureau_calls(sandbox) -> list[dict]:
    return [c for c in sandbox.calls() if c["vendor"] in BUREAUS]


def test_consultant_cannot_pull_a_customers_credit_without_their_consent(pulling, staff,
                                                                          sandbox):
    client = pulling.test_client()
    victim, idn = register_customer(client, "victim", 40)
    httpx.delete(f"{sandbox.base_url}/_admin/calls")

    # a consultant of ANY dealer files under the victim's ID number: the answer is the same as
    # for a number nobody registered (no registration oracle)
    r = client.post("/applications", headers=staff.h("c3"),
                    json={**APPLICATION, "id_number": idn})
    unknown = client.post("/applications", headers=staff.h("c3"),
                          json={**APPLICATION, "id_number": id_number(41)})
    assert r.status_code == unknown.status_code == 201
    assert set(r.json) == set(unknown.json)
    assert r.json["customer_confirmed"] is unknown.json["customer_confirmed"] is False
    app_id = r.json["id"]

    # a 5-byte "%PDF-" is not an authorisation; the consultant cannot consent for anyone
    forged = client.post(f"/applications/{app_id}/authorization", headers=staff.h("c3"),
                         data={"file": file(b"%PDF-")}, content_type="multipart/form-data")
    assert forged.status_code == 422 and "file" in forged.json["errors"]["json"]
    assert client.get(f"/applications/{app_id}/documents", headers=staff.h("c3")).json == []
    r = client.post(f"/applications/{app_id}/consent", headers=staff.h("c3"),
                    json={"text_version": "v1"})
    assert r.status_code == 403
    assert client.post(f"/applications/{app_id}/authorization", headers=staff.h("c3"),
                       data={"file": file()},
                       content_type="multipart/form-data").status_code == 201

    # submitting without the customer's consent is refused and no bureau is asked
    r = client.post(f"/applications/{app_id}/submit?wait=20", headers=staff.h("c3"))
    assert r.status_code == 409 and "consent" in r.json["message"]
    assert client.get(f"/applications/{app_id}", headers=staff.h("c3")).json["state"] == "draft"
    assert bureau_calls(sandbox) == []
    # the victim does not even see the order as theirs until they consent; the consent
    # record does not exist
    mine = client.get("/applications", headers={"Authorization": f"Bearer {victim}"}).json
    assert all(item["customer_confirmed"] is False for item in mine["items"])
    assert client.get(f"/applications/{app_id}/consent", headers=staff.h("c3")).json == []
    # the old customer-wide "authorisation" no longer exists: consent is per application
    r = client.post("/customers/me/credit-authorization",
                    headers={"Authorization": f"Bearer {victim}"}, json={"consent": True})
    assert r.status_code == 409


def test_pulls_happen_only_under_the_customers_live_consent(pulling, staff, sandbox, engine):
    client = pulling.test_client()
    token, idn = register_customer(client, "consents", 42)
    me = {"Authorization": f"Bearer {token}"}
    httpx.delete(f"{sandbox.base_url}/_admin/calls")
    app_id = new_application(client, staff, "c1", idn, submit=False)["id"]
    r = client.get(f"/applications/{app_id}/consent", headers=me)
    consent_id = r.json[0]["id"]
    assert r.json[0]["bureaus"] == ["pboc", "thirdparty"]
    assert len(r.json[0]["document_sha256"]) == 64
    r = client.post(f"/applications/{app_id}/submit?wait=20", headers=staff.h("c1"))
    assert r.status_code == 200, r.json
    assert {c["vendor"] for c in bureau_calls(sandbox)} == set(BUREAUS)
    inquiries = httpx.get(f"{sandbox.base_url}/_admin/records/inquiries").json()
    assert {q["authorization_ref"] for q in inquiries[-2:]} == {f"consent:{consent_id}"}
    with Session(engine) as s:
        record = s.scalar(select(DecisionRecord).where(DecisionRecord.application_id == app_id))
        assert record.consent_id == consent_id and record.features["consent_valid"] is True

    # a consent revoked before submitting: 409, no pull
    other = client.post("/applications", headers=staff.h("c1"),
                        json={**APPLICATION, "id_number": idn}).json["id"]
    grant_consent(client, token, other)
    client.post(f"/applications/{other}/authorization", headers=staff.h("c1"),
                data={"file": file()}, content_type="multipart/form-data")
    assert client.post(f"/applications/{other}/consent/revoke", headers=me).status_code == 200
    httpx.delete(f"{sandbox.base_url}/_admin/calls")
    r = client.post(f"/applications/{other}/submit?wait=20", headers=staff.h("c1"))
    assert r.status_code == 409 and bureau_calls(sandbox) == []

    # expired: the same
    third = client.post("/applications", headers=staff.h("c1"),
                        json={**APPLICATION, "id_number": idn}).json["id"]
    grant_consent(client, token, third)
    client.post(f"/applications/{third}/authorization", headers=staff.h("c1"),
                data={"file": file()}, content_type="multipart/form-data")
    with Session(engine) as s:
        row = s.scalar(select(CreditConsent).where(CreditConsent.application_id == third))
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        s.commit()
    r = client.post(f"/applications/{third}/submit?wait=20", headers=staff.h("c1"))
    assert r.status_code == 409 and bureau_calls(sandbox) == []


def test_a_consent_for_post_loan_monitoring_does_not_cover_the_application(pulling, staff,
                                                                           sandbox, engine):
    """The purpose was recorded but not checked: a consent "for post-loan monitoring" let
    the application be submitted and its bureaus be queried for the credit decision. And a
    draft accepted that purpose at all: it is given by signing the contract, never before."""
    client = pulling.test_client()
    token, idn = register_customer(client, "monitoring", 45)
    app_id = client.post("/applications", headers=staff.h("c1"),
                         json={**APPLICATION, "id_number": idn}).json["id"]
    r = client.post(f"/applications/{app_id}/consent", headers=bearer(token),
                    json={"text_version": "v1", "purpose": "post_loan_monitoring"})
    assert r.status_code == 422 and "signing" in r.json["errors"]["json"]["purpose"][0], r.json
    assert client.get(f"/applications/{app_id}/consent", headers=bearer(token)).json == []
    loan_consent = grant_consent(client, token, app_id)
    with Session(engine) as s:  # a monitoring consent on file (as signing records it) ...
        row = s.get(CreditConsent, loan_consent["id"])
        row.revoked_at = datetime.now(UTC)
        record_postloan_monitoring(session=s, application=s.get(Application, app_id),
                                   granted_by=row.granted_by)
        s.commit()
    client.post(f"/applications/{app_id}/authorization", headers=staff.h("c1"),
                data={"file": file()}, content_type="multipart/form-data")
    httpx.delete(f"{sandbox.base_url}/_admin/calls")
    r = client.post(f"/applications/{app_id}/submit?wait=20", headers=staff.h("c1"))
    assert r.status_code == 409 and "consent" in r.json["message"], r.json  # ... covers not
    assert bureau_calls(sandbox) == []
    grant_consent(client, token, app_id)  # for the loan application: now it goes
    r = client.post(f"/applications/{app_id}/submit?wait=20", headers=staff.h("c1"))
    assert r.status_code == 200 and {c["vendor"] for c in bureau_calls(sandbox)} == set(
        BUREAUS)


def test_a_repeated_consent_is_the_one_on_file_and_a_new_one_replaces_it(api, staff, engine):
    """Each POST stored one more consent: the application piled up "effective" consents of
    one purpose. The same grant again answers with the one on file; another (other bureaus)
    supersedes it — one effective consent per purpose, the database enforcing it."""
    client = api.test_client()
    token, idn = register_customer(client, "again", 47)
    app_id = new_application(client, staff, "c1", idn, submit=False)["id"]
    first = grant_consent(client, token, app_id)
    assert grant_consent(client, token, app_id)["id"] == first["id"]
    narrower = grant_consent(client, token, app_id, bureaus=["pboc"])
    assert narrower["id"] != first["id"] and narrower["bureaus"] == ["pboc"]
    with Session(engine) as s:
        rows = s.scalars(select(CreditConsent).where(CreditConsent.application_id == app_id)
                         .order_by(CreditConsent.id)).all()
        assert [(r.id, r.superseded_at is not None) for r in rows] == [
            (first["id"], True), (narrower["id"], False)]
        rows[1].expires_at = datetime.now(UTC) - timedelta(minutes=1)  # lapsed: a new one
        s.commit()
    renewed = grant_consent(client, token, app_id, bureaus=["pboc"])
    assert renewed["id"] not in (first["id"], narrower["id"])


def test_consent_revoked_between_submit_and_decision_means_no_pull_and_refer(
        pulling, staff, sandbox, engine):
    client = pulling.test_client()
    token, idn = register_customer(client, "racer", 43)
    app_id = new_application(client, staff, "c1", idn, submit=False)["id"]
    svc = pulling.extensions[EXTENSION]
    httpx.delete(f"{sandbox.base_url}/_admin/calls")
    with Session(engine) as s:  # the decision as the submit step runs it, consent gone
        app = s.get(Application, app_id)
        record = svc.decisions.decide(s, app, consent=None)
        assert record.outcome == "refer" and "consent_missing" in record.evidence_gaps
        assert any(f["id"] == "UW_CONSENT_MISSING" for f in record.fired_rules)
        s.rollback()
    assert bureau_calls(sandbox) == []


def test_consent_for_someone_elses_application_is_not_found(api, staff):
    client = api.test_client()
    owner, idn = register_customer(client, "owner14", 44)
    stranger, _ = register_customer(client, "stranger14", 45)
    app_id = new_application(client, staff, "c1", idn, submit=False)["id"]
    r = client.post(f"/applications/{app_id}/consent",
                    headers={"Authorization": f"Bearer {stranger}"}, json={"text_version": "v1"})
    assert r.status_code == 404
    r = client.post(f"/applications/{app_id}/consent",
                    headers={"Authorization": f"Bearer {owner}"}, json={"text_version": "v9"})
    assert r.status_code == 422 and "text_version" in r.json["errors"]["json"]


# ---- identity squatting -------------------------------------------------------------------
@pytest.fixture(scope="module")
def world_sandbox():
    with running_sandbox(WORLD, latency_ms=1) as server:
        yield server


def _world_person() -> tuple[str, str]:
    """A sample-world person whose ID check and liveness pass (their real name)."""
    world = World.load(WORLD)
    for idn, person in sorted(world.people.items()):
        ids = world.check_history(person.customer_id, "id_card")
        live = world.check_history(person.customer_id, "liveness")
        if person.name and (not ids or ids[-1].passed) and live and all(c.passed for c in live):
            return idn, person.name
    raise AssertionError("no suitable world person")


def _profile(client, token: str, name: str, idn: str, phone: str):
    return client.put("/customers/me/profile", headers={"Authorization": f"Bearer {token}"},
                      json={"name": name, "id_number": idn, "phone": phone,
                            "birth_date": f"{idn[6:10]}-{idn[10:12]}-{idn[12:14]}",  # as on the ID
                            "home_lat": 39.91, "home_lon": 116.40})


def test_a_squatted_id_number_does_not_block_its_owner_and_is_displaced(api, staff,
                                                                        world_sandbox, engine):
    svc = api.extensions[EXTENSION]
    svc.vendors.close()
    svc.vendors = fast_vendors(world_sandbox.base_url)
    client = api.test_client()
    idn, name = _world_person()

    attacker = client.post("/customers/register", json={"username": "squatter",
                                                        "display_name": "x"}).json["token"]
    assert _profile(client, attacker, "冒名者", idn, "13900000001").status_code == 201
    att = {"Authorization": f"Bearer {attacker}"}
    r = client.post("/customers/me/id-check", headers=att)
    assert r.status_code == 201 and not r.json["passed"]  # the name does not match
    # a consultant files under the number: the pending claim does not make it the attacker's
    app_id = client.post("/applications", headers=staff.h("c1"),
                         json={**APPLICATION, "id_number": idn}).json["id"]
    assert client.get(f"/applications/{app_id}", headers=att).status_code == 404
    r = client.post(f"/applications/{app_id}/consent", headers=att, json={"text_version": "v1"})
    assert r.status_code == 409 and r.json["identity_status"] == "pending"

    # the real owner registers (no "already registered"), proves it, displaces the squatter
    owner = client.post("/customers/register", json={"username": "realowner",
                                                     "display_name": "y"}).json["token"]
    assert _profile(client, owner, name, idn, "13900000002").status_code == 201
    me = {"Authorization": f"Bearer {owner}"}
    assert client.post("/customers/me/id-check", headers=me).json["passed"]
    r = client.post("/customers/me/liveness", headers=me, content_type="multipart/form-data",
                    data={"selfie": file(JPEG, "me.jpg")})
    assert r.status_code == 201 and r.json["passed"]
    with Session(engine) as s:
        statuses = {c.user_id: c.identity_status for c in s.scalars(select(Customer))}
        assert sorted(statuses.values()) == ["displaced", "verified"]
        events = [e.event for e in s.scalars(select(IdentityEvent).order_by(IdentityEvent.id))]
        assert "displaced" in events and events[-1] == "verified"
    # the owner sees and confirms the application; the squatter never can, even by retrying
    assert client.get(f"/applications/{app_id}", headers=me).status_code == 200
    grant_consent(client, owner, app_id)
    r = client.post("/customers/me/liveness", headers=att, content_type="multipart/form-data",
                    data={"selfie": file(JPEG, "me.jpg")})
    assert r.status_code == 409
    assert client.get(f"/applications/{app_id}", headers=att).status_code == 404
    # a third account claiming the now verified number is refused at once
    third = client.post("/customers/register", json={"username": "third",
                                                     "display_name": "z"}).json["token"]
    r = _profile(client, third, name, idn, "13900000003")
    assert r.status_code == 409 and "verified" in r.json["message"]


# ---- separation of duties -----------------------------------------------------------------
def _to_disbursement_review(client, staff, engine, seq: int, approver: str) -> int:
    _, idn = register_customer(client, f"sod{seq}", seq)
    app_id = new_application(client, staff, "c1", idn, loan_amount="210000.00",
                             vehicle_price="400000.00", down_payment="50000.00")["id"]
    r = client.post(f"/reviews/{app_id}", headers=staff.h(approver),
                    json={"decision": "approve", "notes": "credit ok", "annual_rate": "0.1"})
    assert r.status_code == 201 and r.json["state"] == "approved", r.json
    with Session(engine) as s:  # fast-forward plan → contract → liveness (the journey walks it)
        s.get(Application, app_id).state = "disbursement_review"
        s.commit()
    return app_id


def test_one_reviewer_cannot_approve_credit_and_disbursement_and_admin_cannot_approve(
        api, staff, engine):
    client = api.test_client()
    app_id = _to_disbursement_review(client, staff, engine, 46, "r1")
    r = client.post(f"/reviews/{app_id}", headers=staff.h("ad"),
                    json={"decision": "approve", "notes": "admin"})
    assert r.status_code == 403
    r = client.post(f"/reviews/{app_id}", headers=staff.h("r1"),
                    json={"decision": "approve", "notes": "me again"})
    assert r.status_code == 403 and "separation of duties" in r.json["message"]
    r = client.post(f"/reviews/{app_id}", headers=staff.h("r2"),
                    json={"decision": "approve", "notes": "second pair of eyes"})
    assert r.status_code == 201 and r.json["state"] == "disbursed" and r.json["voucher_number"]


def test_separation_of_duties_holds_when_both_reviewers_approve_at_once(api, staff, engine,
                                                                        database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("needs real concurrent transactions: PostgreSQL (TEST_DATABASE_URL)")
    client = api.test_client()
    app_id = _to_disbursement_review(client, staff, engine, 47, "r1")
    barrier = threading.Barrier(2)
    status: dict[str, int] = {}

    def approve(who: str) -> None:
        c = api.test_client()
        barrier.wait()
        status[who] = c.post(f"/reviews/{app_id}", headers=staff.h(who),
                             json={"decision": "approve", "notes": who}).status_code

    threads = [threading.Thread(target=approve, args=(w,)) for w in ("r1", "r2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # r1 is refused either way: by the duty rule (403) or, when r2 already won, by the state
    # machine (409); r2 issues the one voucher
    assert status["r2"] == 201 and status["r1"] in (403, 409), status
    with Session(engine) as s:
        vouchers = s.scalars(select(Voucher).where(Voucher.application_id == app_id)).all()
        assert len(vouchers) == 1 and vouchers[0].issued_by == staff.users["r2"]


def test_two_reviewers_racing_for_a_referral_then_the_other_disburses(api, staff, engine,
                                                                      database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("needs real concurrent transactions: PostgreSQL (TEST_DATABASE_URL)")
    client = api.test_client()
    _, idn = register_customer(client, "sodrace", 48)
    app_id = new_application(client, staff, "c1", idn, loan_amount="210000.00",
                             vehicle_price="400000.00", down_payment="50000.00")["id"]
    barrier = threading.Barrier(2)
    status: dict[str, int] = {}

    def approve(who: str) -> None:
        c = api.test_client()
        barrier.wait()
        status[who] = c.post(f"/reviews/{app_id}", headers=staff.h(who),
                             json={"decision": "approve", "notes": who,
                                   "annual_rate": "0.1"}).status_code

    threads = [threading.Thread(target=approve, args=(w,)) for w in ("r1", "r2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(status.values()) == [201, 409], status
    winner = next(w for w, code in status.items() if code == 201)
    loser = "r2" if winner == "r1" else "r1"
    with Session(engine) as s:
        s.get(Application, app_id).state = "disbursement_review"
        s.commit()
    assert client.post(f"/reviews/{app_id}", headers=staff.h(winner),
                       json={"decision": "approve", "notes": "x"}).status_code == 403
    assert client.post(f"/reviews/{app_id}", headers=staff.h(loser),
                       json={"decision": "approve", "notes": "x"}).status_code == 201


# ---- paper originals ----------------------------------------------------------------------
def test_paper_original_steps_by_the_right_role_only_and_never_back(api, staff, engine):
    client = api.test_client()
    _, idn = register_customer(client, "paper", 49)
    app_id = new_application(client, staff, "c1", idn)["id"]
    with Session(engine) as s:
        s.get(Application, app_id).state = "picked_up"
        s.commit()
    r = client.post(f"/applications/{app_id}/documents/insurance_policy", headers=staff.h("c1"),
                    data={"file": file(PDF)}, content_type="multipart/form-data")
    assert r.status_code == 201
    url = f"/applications/{app_id}/documents/insurance_policy/mailing"
    received = {"mailing_status": "received"}
    assert client.put(url, headers=staff.h("c1"), json=received).status_code == 409  # skip
    r = client.put(url, headers=staff.h("r1"),
                   json={"mailing_status": "mailed", "tracking_number": "SF1"})
    assert r.status_code == 403  # the dealer mails, not the back office
    r = client.put(url, headers=staff.h("c1"),
                   json={"mailing_status": "mailed", "tracking_number": "SF1"})
    assert r.status_code == 200
    assert client.put(url, headers=staff.h("c1"), json=received).status_code == 403
    assert client.put(url, headers=staff.h("ad"), json=received).status_code == 403
    assert client.put(url, headers=staff.h("r1"), json=received).status_code == 200
    back = client.put(url, headers=staff.h("r1"),
                      json={"mailing_status": "mailed", "tracking_number": "SF1"})
    assert back.status_code == 409 and back.json["mailing_status"] == "received"
    assert client.put(url, headers=staff.h("c1"),
                      json={"mailing_status": "pending"}).status_code == 409
