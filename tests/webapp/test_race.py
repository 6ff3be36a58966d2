"""Two reviewers approve the same disbursement at the same moment: exactly one voucher."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, User
from chedaitong.db.origination import Review, Voucher
from decisioning.origination import flows, state_machine

from .conftest import new_application, register_customer


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
