"""A user's API tokens over their life: sign-in with last use recorded, rotation (a new token,
optionally retiring the one in hand), revocation, listing — never the clear value after issue.

Tokens expire (`accounts.TOKEN_TTL` unless asked shorter); a page session signed in with a
token ends when it is revoked or expires (`accounts.signed_in_user`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chedaitong.db import Role, User
from chedaitong.db.base import as_utc
from chedaitong.db.origination import ApiToken
from chedaitong.errors import NotFound
from decisioning.origination.accounts import TOKEN_TTL, hash_token, issue_token, live

LAST_USED_EVERY = timedelta(minutes=1)  # write last use at most this often per token
#: `Session.info` mark of a transaction that revokes tokens or deactivates a user
REVOKED = "chedaitong.auth_revoked"


def note_revocation(session: Session) -> None:
    """This transaction stops tokens working: the processes' token caches drop what they
    trust once it commits (`token_cache.TokenCache.watch`)."""
    session.info[REVOKED] = True


def record_use(session: Session, token_id: int, now: datetime) -> None:
    """Write a token's last use (committed); callers do it at most every `LAST_USED_EVERY`."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id)
                    .values(last_used_at=now).execution_options(synchronize_session=False))
    session.commit()


def authenticate(*, session: Session, token: str) -> tuple[User, ApiToken] | None:
    """(user, token row) for a live token of an active user, recording its use; else None."""
    now = datetime.now(UTC)
    found = session.execute(
        select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), live(now))).first()
    if found is None or not found[0].active:
        return None
    user, row = found
    last = as_utc(row.last_used_at)
    if last is None or now - last > LAST_USED_EVERY:
        record_use(session, row.id, now)
    return user, row


def rotate(*, session: Session, user: User, current_id: int | None, label: str,
           ttl: timedelta = TOKEN_TTL, revoke_current: bool = False) -> tuple[ApiToken, str]:
    """A new token for ``user`` (committed); with ``revoke_current`` the one in hand stops."""
    value = issue_token(session, user, label=label, ttl=min(ttl, TOKEN_TTL))
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(value)))
    if revoke_current and current_id is not None:
        note_revocation(session)
        session.execute(update(ApiToken).where(ApiToken.id == current_id,
                                               ApiToken.revoked_at.is_(None))
                        .values(revoked_at=datetime.now(UTC)))
    session.commit()
    return row, value


def revoke(*, session: Session, actor: User, token_id: int) -> ApiToken:
    """Revoke one of ``actor``'s tokens (an admin: anyone's); NotFound for others' tokens."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.id and actor.role is not Role.ADMIN):
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        note_revocation(session)
    session.commit()
    return row


def list_tokens(*, session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.id)))
