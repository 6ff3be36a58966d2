"""Staff accounts made in the app: four eyes on who may do what.

An admin creating a staff account in the app (a reviewer, an admin, a collector, a consultant…)
only *requests* it: the account is pending — inactive, without a token — until an admin who is
not in the creator's hands (`accounts.same_hands`) activates it; the creator may not, so one
admin cannot mint a second identity to be the other pair of eyes of a four-eyes check. The
first token is handed to the activating admin, once, for the new user: the creator never
sees it, and the activator's hands count in `same_hands` from then on. Any admin may reject
a pending account (its creator too: withdrawing it). Like a dealer's payout account change
(`dealers.decide_account_change`): 403 for the same hands, 409 once decided (of two
concurrent decisions one wins), every step audited. Accounts made from the command line and
by demo seeding are the operator's bootstrap and are active at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as update_rows
from sqlalchemy.orm import Session

from chedaitong.db import Role, User
from chedaitong.errors import Conflict, Invalid, NotFound, NotPermitted
from decisioning.origination import accounts
from decisioning.origination.accounts import ACTIVATED, PENDING, REJECTED
from decisioning.origination.dealers import audit

DECISIONS = {"approve": ACTIVATED, "reject": REJECTED}


def request_account(*, session: Session, actor: User, username: str, display_name: str,
                    role: Role, dealer_code: str | None) -> User:
    """A pending staff account created by ``actor`` (committed, audited)."""
    user, _ = accounts.create_staff(session=session, username=username,
                                    display_name=display_name, role=role,
                                    dealer_code=dealer_code, created_by=actor.id)
    audit(session, actor, "user.requested", "user", user.id, username=username,
          role=role.value, dealer_code=dealer_code)
    session.commit()
    return user


def decide_activation(*, session: Session, actor: User, user_id: int, decision: str,
                      note: str = "") -> tuple[User, str | None]:
    """Activate (the account signs in from now on; its first token is returned, once) or
    reject a pending staff account, committed. NotPermitted unless ``actor`` is an admin and,
    to activate, not in the creator's hands; Conflict once decided (or decided meanwhile)."""
    user = session.get(User, user_id)
    if user is None or user.activation is None:
        raise NotFound(f"no staff account request {user_id}")
    if user.activation != PENDING:
        raise Conflict(f"staff account {user.username} is already {user.activation}",
                       details={"activation": user.activation})
    if actor.role is not Role.ADMIN or not actor.active:
        raise NotPermitted("only an admin activates a staff account")
    outcome = DECISIONS.get(decision)
    if outcome is None:
        raise Invalid("decision", "approve or reject")
    creator = session.get(User, user.created_by)
    if outcome == ACTIVATED and (actor.id == user.created_by
                                 or accounts.same_hands(actor, creator)):
        raise NotPermitted("four eyes: another admin must activate the account "
                           + ("you created" if actor.id == user.created_by else
                              f"{creator.username} created (one of your accounts created "
                              "the other, or one admin created or activated both)"))
    values: dict[str, Any] = {"activation": outcome}
    if outcome == ACTIVATED:
        values.update(active=True, activated_by=actor.id, activated_at=datetime.now(UTC))
    won = session.execute(update_rows(User).where(User.id == user.id,
                                                  User.activation == PENDING)
                          .values(**values).execution_options(synchronize_session=False))
    if won.rowcount != 1:
        session.rollback()
        raise Conflict(f"staff account {user.username} was decided meanwhile")
    session.refresh(user)
    token = None
    if outcome == ACTIVATED:
        token = accounts.issue_token(session, user, label="activation")
    audit(session, actor, f"user.{outcome}", "user", user.id, username=user.username,
          role=user.role.value, created_by=user.created_by, note=note[:500])
    session.commit()
    return user, token


def pending_accounts(session: Session, limit: int = 200) -> list[User]:
    """Staff accounts awaiting a second admin, oldest first (the checker's worklist)."""
    return list(session.scalars(select(User).where(User.activation == PENDING)
                                .order_by(User.id).limit(limit)))


def view(session: Session, user: User) -> dict[str, Any]:
    creator = session.get(User, user.created_by) if user.created_by else None
    return {"user_id": user.id, "username": user.username, "display_name": user.display_name,
            "role": user.role.value, "dealer_id": user.dealer_id, "active": user.active,
            "activation": user.activation, "created_by": user.created_by,
            "created_by_username": creator.username if creator else None,
            "created_at": user.created_at, "activated_by": user.activated_by,
            "activated_at": user.activated_at}
