"""The decision SMS reaches the customer once, whoever delivers it: the submitting thread
(no queue configured) and a worker's retry send it through the same vendor call, so the
vendor recognises the idempotency key of a first try whose answer was lost."""

from __future__ import annotations

from sqlalchemy import select

from chedaitong.db.outbox import OutboxMessage
from decisioning.origination import outbox
from decisioning.origination.flows import submit

from .test_journey_domain import _filed


def _sent_for(sandbox, ref: str) -> list[dict]:
    return [m for m in sandbox.records("messages")
            if m.get("template") == "DECISION_READY" and m["params"].get("ref") == ref]


def test_an_sms_accepted_but_unanswered_inline_is_not_sent_again_by_the_worker_retry(
        people, services, sandbox):
    s = people.session
    app = _filed(people, services)
    # the vendor takes the first try but its answer is lost, then fails the client's retries
    sandbox.script("sms", {"status": 503, "after_commit": True}, {"status": 503},
                   {"status": 503})
    submit(session=s, services=services, application=app, actor=people.consultant)
    message = s.scalar(select(OutboxMessage).where(
        OutboxMessage.application_id == app.id, OutboxMessage.kind == outbox.SMS))
    assert message.status == "pending" and message.last_error  # the answer never came
    assert len(_sent_for(sandbox, app.ref)) == 1  # ... but the vendor has it
    for _ in range(3):  # the worker's retry (`queue._run_deliver`), until the vendor answers
        if not outbox.deliver_batch(session=s, services=services, message_ids=[message.id]):
            break
    s.refresh(message)
    assert message.status == "delivered"
    assert len(_sent_for(sandbox, app.ref)) == 1, "the customer got the decision SMS twice"
