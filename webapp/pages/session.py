"""Page sessions: the user id (and the token used to sign in) in the signed Flask cookie,
a per-session CSRF token, and a role gate that refuses before any data is read."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable

from flask import abort, g, redirect, request, session, url_for

from chedaitong.db import Role, User
from decisioning.origination import accounts
from webapp import database
from webapp.auth import check_role

REVIEWS = (Role.REVIEWER, Role.ADMIN)
ANALYSIS = (Role.ANALYST, Role.ADMIN)
POSTLOAN = (Role.COLLECTOR, Role.ANALYST, Role.ADMIN)


def csrf_token() -> str:
    """The session's CSRF token (created on first use); forms send it back as ``csrf``."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    """Refuse a POST whose ``csrf`` field does not match the session's token."""
    sent, kept = request.form.get("csrf", ""), session.get("csrf", "")
    # as bytes: compare_digest refuses str with non-ASCII characters (a forged field)
    if not kept or not hmac.compare_digest(sent.encode(), kept.encode()):
        abort(400, "the form expired or did not come from this site; reload and try again")


def sign_in(user: User, token_id: int) -> None:
    """A fresh session (no fixation): user, the token that signed in, the server-side page
    session (`accounts.open_page_session`: what signing out ends), a new CSRF token."""
    session.clear()
    session.permanent = True
    session["uid"], session["tid"] = user.id, token_id
    session["sid"] = accounts.open_page_session(session=database.session(), user=user,
                                                token_id=token_id)
    csrf_token()


def sign_out() -> None:
    """End the page session on the server, then forget the cookie."""
    accounts.end_page_session(session=database.session(), page_session_id=session.get("sid"))
    session.clear()


def page_user() -> User | None:
    """The signed-in user, or None; the session ends when the user signs out, the token is
    revoked or the user deactivated, since it is re-checked on every request."""
    if "page_user" in g:
        return g.page_user
    uid, tid, sid = session.get("uid"), session.get("tid"), session.get("sid")
    user = None
    if uid is not None and tid is not None and sid is not None:
        user = accounts.signed_in_user(session=database.session(), user_id=uid, token_id=tid,
                                       page_session_id=sid)
    g.page_user = user
    return user


def roles(*allowed: Role) -> Callable:
    """Anonymous → login page; a signed-in user without one of ``allowed`` → 403."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = page_user()
            if user is None:
                return redirect(url_for("pages.login", next=request.full_path))
            check_role(user, allowed, "open this page")
            return view(*args, **kwargs)

        return wrapper

    return decorator


def safe_next(target: str | None) -> str | None:
    """Only our own page paths are followed after login (no open redirect)."""
    if target and target.startswith("/pages/") and "//" not in target and "\\" not in target:
        return target
    return None
