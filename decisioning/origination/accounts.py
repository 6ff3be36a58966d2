"""Users and their API tokens.

Tokens are random 32-byte strings given to the client once; the database keeps only their
SHA-256, so a copy of the database cannot be used to sign in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.db import Dealer, Role, User
from chedaitong.db.origination import ApiToken, PageSession
from chedaitong.errors import Conflict, Invalid

#: how long a token works unless rotated sooner (`decisioning.origination.tokens`)
TOKEN_TTL = timedelta(days=30)
#: `User.activation` of a staff account created in the app, until a second admin decides
PENDING, ACTIVATED, REJECTED = "pending", "activated", "rejected"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def live(now: datetime | None = None):
    """The SQL condition of a token that may sign in: not revoked, not expired."""
    now = now or datetime.now(UTC)
    return and_(ApiToken.revoked_at.is_(None),
                or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))


def issue_token(session: Session, user: User, label: str = "",
                ttl: timedelta = TOKEN_TTL) -> str:
    """A new token for ``user`` (flushed, not committed); the clear value is returned once."""
    token = "cdt_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label[:64],
                         expires_at=datetime.now(UTC) + ttl))
    session.flush()
    return token


def user_for_token(*, session: Session, token: str) -> User | None:
    """The active user holding the unrevoked ``token``, or None."""
    user = session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), live()))
    return user if user is not None and user.active else None


def sign_in(*, session: Session, username: str, token: str) -> tuple[User, int] | None:
    """(user, token id) when ``token`` is one of ``username``'s live tokens, else None."""
    if not token:
        return None
    found = session.execute(
        select(User, ApiToken.id).join(ApiToken, ApiToken.user_id == User.id)
        .where(User.username == username, ApiToken.token_hash == hash_token(token),
               live())).first()
    if found is None or not found[0].active:
        return None
    return found[0], found[1]


def open_page_session(*, session: Session, user: User, token_id: int) -> int:
    """A new page session signed in with ``token_id`` (committed): its id goes into the
    signed cookie, and the session lasts while its row is open and its token live."""
    row = PageSession(user_id=user.id, token_id=token_id)
    session.add(row)
    session.commit()
    return row.id


def end_page_session(*, session: Session, page_session_id: int | None) -> None:
    """Sign out: the page session ends on the server (committed), so a copy of its cookie
    signs in no more."""
    if page_session_id is not None:
        session.execute(update(PageSession).where(PageSession.id == page_session_id,
                                                  PageSession.ended_at.is_(None))
                        .values(ended_at=datetime.now(UTC)))
        session.commit()


def signed_in_user(*, session: Session, user_id: int, token_id: int,
                   page_session_id: int) -> User | None:
    """The active user of a page session, while the session is not signed out and the token
    it signed in with is live (not revoked, not expired): a page session ends with either."""
    user = session.scalar(
        select(User).join(PageSession, PageSession.user_id == User.id)
        .join(ApiToken, ApiToken.id == PageSession.token_id)
        .where(PageSession.id == page_session_id, PageSession.ended_at.is_(None),
               User.id == user_id, ApiToken.id == token_id, live()))
    return user if user is not None and user.active else None


def register_user(*, session: Session, username: str, display_name: str,
                  role: Role = Role.CUSTOMER, dealer_id: int | None = None,
                  created_by: int | None = None) -> tuple[User, str]:
    """A new user with a first token, committed (Conflict when the username is taken).
    ``created_by``: the admin creating it, who is handed that token."""
    user = User(username=username, display_name=display_name, role=role, dealer_id=dealer_id,
                created_by=created_by)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"username {username!r} is taken") from None
    token = issue_token(session, user, label="register")
    session.commit()
    return user, token


def create_staff(*, session: Session, username: str, display_name: str, role: Role,
                 dealer_code: str | None, created_by: int | None = None
                 ) -> tuple[User, str | None]:
    """A staff account; a consultant belongs to an existing dealer (Invalid otherwise).
    ``created_by``: the admin creating it in the app — the account is then *pending*
    (inactive, no token: `decisioning.origination.staff.decide_activation` by another admin
    activates it and hands out the first token); None (the command line, operator bootstrap):
    active at once with its first token."""
    dealer_id = None
    if role is Role.CONSULTANT:
        dealer_id = session.scalar(select(Dealer.id).where(Dealer.code == dealer_code))
        if dealer_id is None:
            raise Invalid("dealer_code", "no such dealer",
                          message="dealer_code: a consultant needs an existing dealer")
    if created_by is None:
        return register_user(session=session, username=username, display_name=display_name,
                             role=role, dealer_id=dealer_id)
    user = User(username=username, display_name=display_name, role=role, dealer_id=dealer_id,
                created_by=created_by, active=False, activation=PENDING)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"username {username!r} is taken") from None
    return user, None


def _hands(user: User) -> set[int]:
    """The admins who held ``user``'s first token or made the account in the app."""
    return {h for h in (user.created_by, user.activated_by) if h is not None}


def same_hands(a: User | None, b: User | None) -> bool:
    """Whether ``a`` and ``b`` may be one person as far as a four-eyes check can tell: the
    same user, one created or activated the other in the app, or one admin created or
    activated both — the activating admin is handed each first token (the creator before
    staff accounts needed activation), so nothing shows another person holds it. Accounts
    made outside the app (deployment, command line) count as their own people."""
    if a is None or b is None:
        return False
    return a.id == b.id or a.id in _hands(b) or b.id in _hands(a) or bool(_hands(a) & _hands(b))
