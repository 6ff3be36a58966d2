"""Deciding a submitted application: the task a decision worker runs (and, where no queue is
configured, the submitting thread itself).

Everything a decision writes — the evidence the bureaus returned, the record, the state step
and the SMS it owes (in the outbox) — is committed in one transaction after the vendor calls,
so a worker that dies mid-decision leaves the application in ``deciding`` with nothing
half-written, and the queue's retry decides it again. One decision per application is enforced
by the database (a unique record per application, and the state step is a conditional
update): a second worker racing for the same application loses and writes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.db import Application, DecisionRecord
from decisioning.origination import applications, consent, exposure, outbox, state_machine

log = logging.getLogger(__name__)

OUTCOME_ACTION = {"approve": "decide_approve", "decline": "decide_decline",
                  "refer": "decide_refer"}
#: the states a decision worker decides from (``submitted``: rows from before the queue)
UNDECIDED = (state_machine.DECIDING, state_machine.SUBMITTED)


@dataclass
class Decided:
    """What one run of the task did: the record (None when there was nothing to decide) and
    the outbox messages to deliver now that it is committed."""

    record: DecisionRecord | None
    deliver: list[int] = field(default_factory=list)


def authorization_ref(session: Session, application: Application) -> str:
    """The credit-inquiry authorisation the bureau pulls cite (the signed document's hash)."""
    auth = applications.authorization_of(session=session, application=application)
    return f"auth:{application.ref}:{auth.sha256[:12]}" if auth else f"auth:{application.ref}"


def decide_submitted(*, session: Session, services: Any, application_id: int) -> Decided:
    """Decide the application if it is still waiting for its decision; commit; idempotent."""
    application = session.get(Application, application_id)
    if application is None or application.state not in UNDECIDED:
        session.rollback()
        return Decided(None)
    ref = authorization_ref(session, application)
    # read at decision time: a consent revoked since the submission means no pull (and refer)
    live = consent.live_consent(session=session, application=application)
    books = exposure.features(session=session, application=application)
    try:
        record = services.decision_service().decide(
            session, application, authorization_ref=ref, consent=consent.as_grant(live),
            platform_features=books)
        state_machine.advance(session, application, OUTCOME_ACTION[record.outcome], None,
                              note=f"decision {record.id}")
        sms = outbox.add_decision_sms(session, application=application, record=record)
        session.commit()
    except (IntegrityError, state_machine.IllegalTransition):
        session.rollback()  # another worker decided it first: its decision stands
        log.info("application %s was decided by another worker", application_id)
        return Decided(None)
    return Decided(record, [sms.id])


def wait_for_decision(*, session: Session, application: Application, seconds: float) -> bool:
    """Wait up to ``seconds`` for a worker to decide ``application`` (refreshed in place);
    True once it is decided. For the bounded ``?wait=`` long-poll of the API: each check is
    one short read in its own transaction, so the worker's commit is seen as it lands."""
    deadline = time.monotonic() + max(0.0, seconds)
    pause = 0.005
    while application.state in UNDECIDED:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 1.5, 0.05)
        session.commit()
        session.refresh(application)
    return True
