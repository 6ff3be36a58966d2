"""Bearer-token authentication and role checks.

Tokens are random 32-byte strings given to the client once; the database keeps only their
SHA-256, so a copy of the database cannot be used to sign in.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden, Unauthorized

from chedaitong.db import Role, User
from chedaitong.db.origination import ApiToken
from webapp import database

STAFF = (Role.REVIEWER, Role.ANALYST, Role.ADMIN)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, label: str = "") -> str:
    """A new token for ``user`` (flushed, not committed); the clear value is returned once."""
    token = "cdt_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label))
    session.flush()
    return token


def current_user() -> User:
    """The signed-in user; 401 without a valid bearer token."""
    if "user" in g:
        return g.user
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>")
    session = database.session()
    user = session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token.strip()), ApiToken.revoked_at.is_(None))
    )
    if user is None or not user.active:
        raise Unauthorized("the token is unknown, revoked or its user is inactive")
    g.user = user
    return user


def roles_required(*roles: Role) -> Callable:
    """Allow the view to users with one of ``roles`` (401 without a token, 403 otherwise)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if roles and user.role not in roles:
                raise Forbidden(
                    f"role {user.role.value} may not do this; allowed: "
                    + ", ".join(r.value for r in roles)
                )
            return view(*args, **kwargs)

        return wrapper

    return decorator


BEARER = {"bearerAuth": []}
