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
