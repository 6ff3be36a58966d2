"""A submit writes the application row once (state and submitted_at in the conditional
UPDATE of the state step), and what it wrote is what a fresh read finds."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from chedaitong.db import Application
from chedaitong.db.origination import StateTransition

from .conftest import new_application, register_customer


class _Holding:
    """A queue that keeps the decision: the application stays in ``deciding``."""

    embedded = False
    decided = None

    def decide(self, application_id: int) -> None:
        pass

    def stop(self) -> None:
        pass


def _held_draft(api, staff, name: str, n: int):
    """(client, the customer's token, a draft of theirs) with the queue holding decisions."""
    from webapp.services import EXTENSION

    client = api.test_client()
    customer, idn = register_customer(client, name, n)
    draft = new_application(client, staff, "c1", idn, submit=False)
    api.extensions[EXTENSION].queue.stop()
    api.extensions[EXTENSION].queue = _Holding()
    return client, customer, draft


def test_submit_updates_the_application_once_and_it_reads_back(api, staff, engine):
    from webapp.database import EXTENSION as DATABASE

    client, _, draft = _held_draft(api, staff, "once", 43)
    updates: list[str] = []

    @event.listens_for(api.extensions[DATABASE]["engine"], "before_cursor_execute")
    def seen(_conn, _cursor, statement, *_a):
        if statement.lstrip().upper().startswith("UPDATE APPLICATIONS"):
            updates.append(statement)

    r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
    assert r.status_code == 202 and r.json["state"] == "deciding", r.json
    assert len(updates) == 1, updates
    with Session(engine) as s:
        app = s.get(Application, draft["id"])
        assert app.state == "deciding" and app.submitted_at is not None
        steps = [t.to_state for t in s.query(StateTransition)
                 .filter_by(application_id=app.id).order_by(StateTransition.id)]
    assert steps[-1] == "deciding"
    assert r.json["submitted_at"] is not None
    # a second submit is refused by the state step, and writes nothing
    assert client.post(f"/applications/{draft['id']}/submit",
                       headers=staff.h("c1")).status_code == 409


def test_submit_answers_in_its_own_transaction_the_detail_a_fresh_read_gives(api, staff):
    """The 202's application is read in the submission's transaction (one transaction per
    submit, two on the old code: the answer was read in a second one after the commit), and
    it is the application a fresh GET returns."""
    from webapp.database import EXTENSION as DATABASE

    client, _, draft = _held_draft(api, staff, "one-tx", 44)
    began: list[int] = []
    event.listen(api.extensions[DATABASE]["engine"], "begin", lambda _c: began.append(1))
    r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
    assert r.status_code == 202 and r.json["state"] == "deciding", r.json
    assert r.headers["Location"].endswith(f"/applications/{draft['id']}")
    assert len(began) == 1, began
    fresh = client.get(f"/applications/{draft['id']}", headers=staff.h("c1"))
    assert fresh.status_code == 200 and fresh.json == r.json


def test_a_get_reads_the_parties_with_the_application_and_shows_what_it_showed(api, staff):
    """``GET /applications/<id>`` reads the dealer and the customer's masked fields with the
    application (2 statements for an application deciding; 3 on the old code), and answers
    what the detail read apart gives — for its consultant and for its customer; another
    customer still gets 404."""
    from sqlalchemy.orm import Session

    from decisioning.origination import applications
    from webapp.database import EXTENSION as DATABASE

    client, customer, draft = _held_draft(api, staff, "parties", 45)
    submitted = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
    assert submitted.status_code == 202
    engine = api.extensions[DATABASE]["engine"]
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _k, s, *_: sent.append(s))
    r = client.get(f"/applications/{draft['id']}", headers=staff.h("c1"))
    assert r.status_code == 200 and r.json["state"] == "deciding"
    assert len(sent) == 2, sent
    assert r.json["customer_phone_masked"] and r.json["dealer_code"]
    with Session(engine) as s:  # the detail reading its parties itself, as it did
        app = s.get(Application, draft["id"])
        apart = applications.detail(session=s, application=app)
    for key in ("dealer_code", "dealer_name", "customer_phone_masked",
                "customer_id_number_masked", "state"):
        assert r.json[key] == apart[key], key
    assert [d["kind"] for d in r.json["documents"]] == [d.kind for d in apart["documents"]]
    assert submitted.json == r.json
    mine = client.get(f"/applications/{draft['id']}",
                      headers={"Authorization": f"Bearer {customer}"})
    assert mine.status_code == 200 and mine.json["customer_phone_masked"] == r.json[
        "customer_phone_masked"]
    other, _ = register_customer(client, "parties-other", 46)
    assert client.get(f"/applications/{draft['id']}",
                      headers={"Authorization": f"Bearer {other}"}).status_code == 404


def test_submit_reads_the_documents_once_and_answers_them(api, staff):
    """A submit reads ``stored_documents`` once — the authorisation check and the 202's
    documents from the same read (twice on the old code: the authorisation as an ORM row,
    then the detail's list) — 7 statements in all (8 on the old code)."""
    from decisioning.origination import applications
    from webapp.database import EXTENSION as DATABASE

    client, _, draft = _held_draft(api, staff, "docs-once", 47)
    sent: list[str] = []
    event.listen(api.extensions[DATABASE]["engine"], "before_cursor_execute",
                 lambda _c, _k, s, *_: sent.append(" ".join(s.split()).upper()))
    r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
    assert r.status_code == 202 and r.json["state"] == "deciding", r.json
    reads = [s for s in sent if s.startswith("SELECT") and "FROM STORED_DOCUMENTS" in s]
    assert len(reads) == 1, reads
    assert len(sent) == 7, sent
    assert applications.AUTHORIZATION_DOC in [d["kind"] for d in r.json["documents"]]
    assert r.json == client.get(f"/applications/{draft['id']}", headers=staff.h("c1")).json


def test_submit_without_the_authorisation_is_refused_and_changes_nothing(api, staff, engine):
    """The authorisation check on the documents' rows still refuses (409), writing nothing."""
    from sqlalchemy import delete

    from chedaitong.db.origination import StoredDocument

    client, _, draft = _held_draft(api, staff, "no-auth", 48)
    with Session(engine) as s:
        s.execute(delete(StoredDocument).where(StoredDocument.application_id == draft["id"]))
        s.commit()
    r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
    assert r.status_code == 409 and "authorisation" in r.json["message"], r.json
    with Session(engine) as s:
        assert s.get(Application, draft["id"]).state == "draft"
