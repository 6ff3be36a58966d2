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
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, DecisionRecord
from decisioning.decided import RECHECK_LOCAL_S, DecidedSignal
from decisioning.origination import consent, exposure, outbox, state_machine
from decisioning.policy import rules_version_of

log = logging.getLogger(__name__)

OUTCOME_ACTION = {"approve": "decide_approve", "decline": "decide_decline",
                  "refer": "decide_refer"}
#: the states a decision worker decides from (``submitted``: rows from before the queue)
UNDECIDED = (state_machine.DECIDING, state_machine.SUBMITTED)
#: tries at deciding one submission before it is referred to a person (a vendor outage does
#: not count: it leaves gaps the rules refer, not a failure)
MAX_ATTEMPTS = 5
DECISION_FAILED = {
    "id": "DECISION_FAILED", "reason_code": "DECISION_FAILED",
    "reason_zh": "自动审批多次失败，转人工审核",
    "reason_en": "The automatic decision failed repeatedly; referred for manual review",
}


@dataclass
class Decided:
    """What one run of the task did: the record (None when there was nothing to decide) and
    the outbox messages to deliver now that it is committed."""

    record: DecisionRecord | None
    deliver: list[int] = field(default_factory=list)
    #: rows delivering them reads (the message, the customer), kept referenced so they stay
    #: in the session for a delivery right after the commit
    held: list[Any] = field(default_factory=list, repr=False)


def start_attempt(session: Session, application_id: int) -> Application | None:
    """Count one more try at deciding the application, committed on its own (so a worker
    killed mid-decision has still counted it); the application as the update left it (one
    round trip: the row comes back with the count), or None when it is decided."""
    application = session.scalars(
        update(Application).where(Application.id == application_id,
                                  Application.state.in_(UNDECIDED))
        .values(decision_attempts=Application.decision_attempts + 1)
        .returning(Application),
        execution_options={"populate_existing": True}).one_or_none()
    session.commit()
    return application


def decide_submitted(*, session: Session, services: Any, application_id: int,
                     max_attempts: int = MAX_ATTEMPTS) -> Decided:
    """Decide the application if it is still waiting for its decision; commit; idempotent.

    Each call counts an attempt first; the one after ``max_attempts`` failed tries refers
    the application to a person with the reason (`refer_failed`) instead of trying again."""
    application = start_attempt(session, application_id)
    if application is None:
        return Decided(None)
    attempts = application.decision_attempts
    if attempts > max_attempts:
        return refer_failed(session=session, services=services, application=application,
                            attempts=attempts - 1)
    # read at decision time: a consent revoked since the submission means no pull (and refer)
    live = consent.live_consent(session=session, application=application)
    books = exposure.features(session=session, application=application)
    # held for the SMS delivery after the commit (the session keeps loaded rows weakly)
    customer = session.get(Customer, application.customer_id)
    try:
        record = services.decision_service().decide(
            session, application, consent=consent.as_grant(live), platform_features=books)
        state_machine.advance(session, application, OUTCOME_ACTION[record.outcome], None,
                              note=f"decision {record.id}")
        sms, _ = outbox.add_decision_sms(session, application=application, record=record)
        session.commit()
    except (IntegrityError, state_machine.IllegalTransition):
        session.rollback()  # another worker decided it first: its decision stands
        log.info("application %s was decided by another worker", application_id)
        return Decided(None)
    return Decided(record, [sms.id], held=[sms, customer])


def refer_failed(*, session: Session, services: Any, application: Application,
                 attempts: int) -> Decided:
    """Refer an application whose decision failed ``attempts`` times: a record with the
    reason (no features, rules or score — none were obtained), the state step and the SMS,
    in one transaction; a reviewer decides it by hand."""
    try:  # the versions serving now, if the service can be built at all
        rules = getattr(services.decision_service(), "rules", None)
    except Exception:  # noqa: BLE001 - a service that cannot load is one reason to be here
        rules = None
    record = DecisionRecord(
        application_id=application.id, decided_at=datetime.now(UTC),
        as_of=datetime.now(UTC), outcome="refer",
        rules_version=rules_version_of(rules) if rules is not None else "unavailable",
        model_version=None, challenger_version=None, features={}, fired_rules=[],
        model=None, challenger=None, offers=[], reasons=[{"source": "decision",
                                                         **DECISION_FAILED}],
        evidence_gaps=["decision_failed"], timings_ms={}, guidance=None,
        routing=None, consent_id=None)
    try:
        session.add(record)
        session.flush()
        state_machine.advance(session, application, "decide_refer", None,
                              note=f"decision failed {attempts} times; referred for review")
        sms, _ = outbox.add_decision_sms(session, application=application, record=record)
        session.commit()
    except (IntegrityError, state_machine.IllegalTransition):
        session.rollback()
        return Decided(None)
    log.error("application %s referred: its decision failed %s times", application.id,
              attempts)
    return Decided(record, [sms.id])


def wait_for_decision(*, session: Session, application: Application, seconds: float,
                      signal: DecidedSignal | None = None,
                      woken: threading.Event | None = None) -> bool:
    """Wait up to ``seconds`` for a worker to decide ``application`` (refreshed in place);
    True once it is decided. For the bounded ``?wait=`` long-poll of the API: it blocks on
    ``signal`` (the queue's `DecidedSignal`) and re-reads the application's state — in a short
    transaction, nothing held while it waits — when woken and every ``signal.recheck_s`` (a
    lost message costs that much latency), and the whole row once it is decided. Without a
    signal it polls the state, up to 20 times a second.

    ``woken``: the event of a ``signal.watching(application.id)`` the caller entered *before*
    it read ``application``. That read is then as fresh as the registration — a decision
    committed after it sets the event — so the wait starts without reading the row again (the
    common ``GET …?wait=``: one read of the row before the wait and one after the wake)."""
    if application.state not in UNDECIDED:
        return True
    if seconds <= 0:
        return False
    deadline = time.monotonic() + seconds
    pause = 0.005
    application_id = application.id  # before the commit (a session may expire on commit)
    session.commit()  # nothing of the request's transaction stays open while it waits
    if woken is not None:
        watching: Any = nullcontext(woken)
    else:
        watching = signal.watching(application_id) if signal is not None else nullcontext(None)
    fresh = woken is not None  # registered before the caller's read: no read needed yet
    rung = False  # the last wait ended by the signal: the row has most likely been decided
    with watching as event:
        while True:
            if not fresh:
                if event is not None:  # registered first: read now, then sleep until woken
                    event.clear()
                else:
                    time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                    pause = min(pause * 1.5, 0.05)
                if rung:
                    session.refresh(application)
                    done = application.state not in UNDECIDED
                else:  # a recheck or a poll: the state column, the row only once decided
                    done = session.scalar(select(Application.state).where(
                        Application.id == application_id)) not in UNDECIDED
                    if done:
                        session.refresh(application)
                if done:
                    return True  # its transaction goes on into the caller's reads
                session.commit()  # the next read sees what committed since
            fresh = False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if event is not None:
                rung = event.wait(min(signal.recheck_s if signal is not None else RECHECK_LOCAL_S,
                                      left))
