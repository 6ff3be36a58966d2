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


def test_submit_updates_the_application_once_and_it_reads_back(api, staff, engine):
    from webapp.database import EXTENSION as DATABASE
    from webapp.services import EXTENSION

    client = api.test_client()
    _, idn = register_customer(client, "once", 43)
    draft = new_application(client, staff, "c1", idn, submit=False)
    api.extensions[EXTENSION].queue.stop()
    api.extensions[EXTENSION].queue = _Holding()
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
    from webapp.services import EXTENSION

    client = api.test_client()
    _, idn = register_customer(client, "one-tx", 44)
    draft = new_application(client, staff, "c1", idn, submit=False)
    api.extensions[EXTENSION].queue.stop()
    api.extensions[EXTENSION].queue = _Holding()
    began: list[int] = []
    event.listen(api.extensions[DATABASE]["engine"], "begin", lambda _c: began.append(1))
    r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
    assert r.status_code == 202 and r.json["state"] == "deciding", r.json
    assert r.headers["Location"].endswith(f"/applications/{draft['id']}")
    assert len(began) == 1, began
    fresh = client.get(f"/applications/{draft['id']}", headers=staff.h("c1"))
    assert fresh.status_code == 200 and fresh.json == r.json
