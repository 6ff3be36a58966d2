"""Two reviewers approve the same disbursement at the same moment: exactly one voucher."""

from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chedaitong.db import Application, User
from chedaitong.db.origination import Review, StateTransition, Voucher
from decisioning.origination import flows, state_machine
from webapp.services import EXTENSION

from .conftest import PDF, new_application, register_customer


def test_double_disbursement_approval_issues_one_voucher(api, staff, engine, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("needs real concurrent transactions: PostgreSQL (TEST_DATABASE_URL)")
    client = api.test_client()
    _, idn = register_customer(client, "race", 30)
    app_id = new_application(client, staff, "c1", idn)["id"]
    with Session(engine) as s:  # fast-forward to the review (the journey test walks it)
        s.get(Application, app_id).state = state_machine.DISBURSEMENT_REVIEW
        s.commit()
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def approve(name: str) -> None:
        with Session(engine) as s:
            app = s.get(Application, app_id)
            reviewer = s.get(User, staff.users[name])
            barrier.wait()
            try:
                _, voucher = flows.review(session=s, application=app, reviewer=reviewer,
                                          decision="approve", notes=name)
                results[name] = voucher.number
            except state_machine.IllegalTransition as exc:
                results[name] = exc

    threads = [threading.Thread(target=approve, args=(n,)) for n in ("r1", "r2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    won = [v for v in results.values() if isinstance(v, str)]
    lost = [v for v in results.values() if isinstance(v, state_machine.IllegalTransition)]
    assert len(won) == 1 and len(lost) == 1, results
    assert lost[0].current_state == "disbursed"
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Voucher)) == 1
        assert s.scalar(select(func.count()).select_from(Review)) == 1


def test_second_approval_over_http_is_409(api, staff, engine):
    client = api.test_client()
    _, idn = register_customer(client, "twice", 31)
    app_id = new_application(client, staff, "c1", idn)["id"]
    with Session(engine) as s:
        s.get(Application, app_id).state = state_machine.DISBURSEMENT_REVIEW
        s.commit()
    body = {"decision": "approve", "notes": "ok"}
    assert client.post(f"/reviews/{app_id}", headers=staff.h("r1"), json=body).status_code == 201
    again = client.post(f"/reviews/{app_id}", headers=staff.h("r2"), json=body)
    assert again.status_code == 409 and again.json["current_state"] == "disbursed"


def test_the_last_two_checklist_documents_uploaded_at_once_both_succeed(api, staff, engine,
                                                                        database_url,
                                                                        monkeypatch):
    """The store app sends the file's documents in parallel. Both of the last two saw the
    checklist complete and tried the completing step: the loser answered 409 for a document
    it had stored. Now both are 201-worthy and the file completes once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs real concurrent transactions: PostgreSQL (TEST_DATABASE_URL)")
    from decisioning.origination import applications
    from decisioning.origination.files import StoredFile

    client = api.test_client()
    _, idn = register_customer(client, "lasttwo", 32)
    app_id = new_application(client, staff, "c1", idn)["id"]
    *first, last_a, last_b = applications.CHECKLIST
    services = api.extensions[EXTENSION]
    with Session(engine) as s:
        app, consultant = s.get(Application, app_id), s.get(User, staff.users["c1"])
        s.execute(update(Application).where(Application.id == app_id).values(
            state=state_machine.PICKED_UP))
        for kind in first:
            applications.store_document(session=s, upload_dir=services.upload_dir,
                                        application=app, kind=kind, user=consultant,
                                        upload=StoredFile.of(PDF + kind.encode(),
                                                             "application/pdf", "d.pdf"))
        s.commit()
    both_stored = threading.Barrier(2)
    store = applications.store_document

    def store_then_wait(**kw):  # each stores its row, then both commit and look together
        doc = store(**kw)
        both_stored.wait(10)
        return doc

    monkeypatch.setattr(applications, "store_document", store_then_wait)
    results: dict[str, object] = {}

    def upload(kind: str) -> None:
        with Session(engine) as s:
            try:
                doc = flows.upload_checklist_document(
                    session=s, services=services, application=s.get(Application, app_id),
                    kind=kind, actor=s.get(User, staff.users["c1"]),
                    upload=StoredFile.of(PDF + kind.encode(), "application/pdf", "d.pdf"))
                results[kind] = doc.kind
            except Exception as exc:  # noqa: BLE001 - the assertion shows it
                results[kind] = exc

    threads = [threading.Thread(target=upload, args=(k,)) for k in (last_a, last_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {last_a: last_a, last_b: last_b}
    with Session(engine) as s:
        steps = s.scalars(select(StateTransition.to_state).where(
            StateTransition.application_id == app_id)).all()
        assert steps.count(state_machine.DOCUMENTS_COMPLETE) == 1
        assert s.get(Application, app_id).state in (state_machine.DOCUMENTS_COMPLETE,
                                                     state_machine.BOOKED)


def test_two_profile_updates_at_once_both_stick(api, staff, engine, database_url,
                                               monkeypatch):
    """Each update decrypted the profile, changed its field and wrote the whole profile
    back: of a new phone and a new income sent at once, the later commit dropped the other
    change (both answered 200, both in the history)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs real concurrent transactions: PostgreSQL (TEST_DATABASE_URL)")
    from chedaitong.db import Customer
    from decisioning.origination import profile

    client = api.test_client()
    token, _ = register_customer(client, "twoedits", 33, verify=False)
    store = api.extensions[EXTENSION].store
    with Session(engine) as s:
        customer_id = s.scalar(select(Customer.id).order_by(Customer.id.desc()).limit(1))
    both_read = threading.Barrier(2)
    read = store.profile

    def read_then_wait(customer):  # each reads the profile, then both write it back
        current = read(customer)
        with contextlib.suppress(threading.BrokenBarrierError):  # the other waits for our
            both_read.wait(3)  # lock: go on
        return current

    monkeypatch.setattr(store, "profile", read_then_wait)

    def update(changes: dict) -> None:
        with Session(engine) as s:
            customer = s.get(Customer, customer_id)
            profile.update(session=s, store=store, customer=customer,
                           actor=s.get(User, customer.user_id), changes=changes)

    threads = [threading.Thread(target=update, args=(c,)) for c in (
        {"phone": "13900139033"}, {"monthly_income": 23456.0})]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    monkeypatch.setattr(store, "profile", read)
    with Session(engine) as s:
        final = store.profile(s.get(Customer, customer_id))
    assert (final.phone, final.monthly_income) == ("13900139033", 23456.0)
