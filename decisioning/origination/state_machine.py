"""The application state machine: the only place an application's `state` changes.

Each step is a conditional UPDATE (``… WHERE id = :id AND state = :from``), so two requests
racing for the same step (two reviewers approving one disbursement) cannot both win: the loser
updates no row and gets `IllegalTransition` naming the current state and the steps allowed from
it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from chedaitong.db import Application, claims
from chedaitong.db.claims import Claim
from chedaitong.db.origination import StateTransition
from chedaitong.errors import Conflict

T = TypeVar("T")

DRAFT = "draft"
SUBMITTED = "submitted"  # before decisions were queued; still decidable
DECIDING = "deciding"  # submitted, the decision queued for a worker
APPROVED = "approved"
DECLINED = "declined"
REFERRED = "referred"
SUPERSEDED = "superseded"  # a re-application replaced it
PLAN_CHOSEN = "plan_chosen"
CONTRACT_CREATED = "contract_created"
CONTRACT_SIGNED = "contract_signed"
LIVENESS_PASSED = "liveness_passed"
DISBURSEMENT_REVIEW = "disbursement_review"
REJECTED = "rejected"  # back office refused the disbursement
DISBURSED = "disbursed"  # voucher issued
PICKED_UP = "picked_up"
DOCUMENTS_COMPLETE = "documents_complete"
BOOKED = "booked"

#: state → {action: next state}. Actions are what the API calls the step.
TRANSITIONS: dict[str, dict[str, str]] = {
    DRAFT: {"submit": DECIDING},
    DECIDING: {"decide_approve": APPROVED, "decide_decline": DECLINED,
               "decide_refer": REFERRED},
    SUBMITTED: {"decide_approve": APPROVED, "decide_decline": DECLINED,
                "decide_refer": REFERRED},
    REFERRED: {"review_approve": APPROVED, "review_reject": DECLINED, "reapply": SUPERSEDED},
    APPROVED: {"choose_plan": PLAN_CHOSEN, "reapply": SUPERSEDED},
    DECLINED: {"reapply": SUPERSEDED},
    PLAN_CHOSEN: {"create_contract": CONTRACT_CREATED},
    CONTRACT_CREATED: {"sign_contract": CONTRACT_SIGNED},
    CONTRACT_SIGNED: {"pass_liveness": LIVENESS_PASSED},
    LIVENESS_PASSED: {"queue_disbursement": DISBURSEMENT_REVIEW},
    DISBURSEMENT_REVIEW: {"approve_disbursement": DISBURSED,
                          "reject_disbursement": REJECTED},
    DISBURSED: {"confirm_pickup": PICKED_UP},
    PICKED_UP: {"complete_documents": DOCUMENTS_COMPLETE},
    DOCUMENTS_COMPLETE: {"book": BOOKED},
    SUPERSEDED: {},
    REJECTED: {},
    BOOKED: {},
}
STATES = tuple(TRANSITIONS)


class IllegalTransition(Conflict):
    """The step is not allowed from the application's state; names that state and the steps
    that are."""

    def __init__(self, application: Application, action: str, state: str):
        super().__init__(f"cannot {action} an application in state {state}", details={
            "current_state": state, "allowed_actions": allowed_actions(state),
            "application_id": application.id})
        self.current_state = state


def allowed_actions(state: str) -> list[str]:
    return sorted(TRANSITIONS.get(state, {}))


def check(application: Application, action: str) -> str:
    """The state ``action`` leads to from the application's current state (else
    `IllegalTransition`)."""
    target = TRANSITIONS.get(application.state, {}).get(action)
    if target is None:
        raise IllegalTransition(application, action, application.state)
    return target


def once(session: Session, application: Application, action: str,
         call: Callable[[str], T], *, digest: str = "") -> tuple[Claim, T]:
    """Ask a vendor once for a step that needs its answer before it can advance (liveness, a
    signature): one caller at a time per application, so a second request never reaches the
    vendor (each call is charged), and no database lock held while the vendor answers
    (`chedaitong.db.claims`: on SQLite a held row is every writer's wait).

    The step is claimed in a short committed transaction; the state is then read again, so a
    caller that comes after the step was taken gets `IllegalTransition` (its stored outcome);
    a caller that comes while another's call is in flight gets Conflict (in progress) at once.
    ``call(idempotency_key)``'s answer is returned with the claim, which the caller
    `claims.finish`-es in the transaction that records the answer and advances the state.
    """

    def still_allowed() -> None:
        state = session.scalar(select(Application.state)
                               .where(Application.id == application.id))
        set_committed_value(application, "state", state)
        check(application, action)

    return claims.once(
        session, f"{action}:application:{application.id}", call, digest=digest,
        check=still_allowed,
        busy=f"another {action} request for this application is in progress; "
             "ask again once it is answered",
        details={"current_state": application.state, "application_id": application.id})


def start(session: Session, application: Application, actor_id: int | None,
          note: str = "") -> None:
    """Record a new application's first state (``draft``); flushes, does not commit."""
    application.state = DRAFT
    session.add(StateTransition(application_id=application.id, from_state=None, to_state=DRAFT,
                                actor_id=actor_id, note=note[:500]))
    session.flush()


def advance(session: Session, application: Application, action: str,
            actor_id: int | None, note: str = "", values: dict[str, Any] | None = None) -> str:
    """Move the application by ``action`` atomically and record the step; return the new state.

    ``values``: other columns the step sets, written by the same conditional UPDATE (the
    application's attributes are set without a second UPDATE at flush). Flushes, does not
    commit: the caller commits the step with its side effects (a voucher, a review) in one
    transaction.
    """
    source = application.state
    target = check(application, action)
    values = dict(values or {})
    result = session.execute(
        update(Application)
        .where(Application.id == application.id, Application.state == source)
        .values(state=target, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.rollback()
        current = session.get(Application, application.id)
        session.refresh(current)
        raise IllegalTransition(current, action, current.state)
    for name, value in {"state": target, **values}.items():  # the row has them already
        set_committed_value(application, name, value)
    session.add(StateTransition(application_id=application.id, from_state=source,
                                to_state=target, actor_id=actor_id, note=note[:500]))
    session.flush()
    return target
