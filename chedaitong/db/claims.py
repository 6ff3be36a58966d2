"""Claim, then call: one vendor call per intent, and no database lock held while it runs.

A step that asks a vendor (a liveness check, a signature, an ID check, a phone call) must not
ask twice for one intent — each call is charged, a call rings a phone — and a double tap sends
two requests at once. Holding the application's row across the call did that, but on SQLite
the hold is the database's one write lock: every other writer (another store's application,
a profile update) waited for the vendor. Instead:

1. `claim` — a short, committed transaction marks the intent busy (one row per intent: a
   conditional UPDATE, or an INSERT the unique key lets only one racer make), so a second
   caller is refused at once (`Busy`), before any vendor call;
2. the caller asks the vendor with the claim's idempotency key and no transaction open;
3. `finish` in the caller's outcome transaction frees the intent, checking it still holds it,
   and the caller commits its outcome with it; `abandon` frees it when the call failed.

A holder that dies mid-call leaves its intent busy until ``busy_until`` (`CLAIM_TTL`, longer
than any vendor call with its retries); the next caller then takes it over with the *same*
idempotency key when it asks the same thing (same fingerprint), so the vendor answers with the
first call's result instead of acting, and charging, twice. Each finished intent moves to the
next ``generation``, so the next deliberate attempt (another selfie after a failed check) is a
new key.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import String, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from chedaitong.db.base import Base, utcnow
from chedaitong.errors import Conflict

T = TypeVar("T")

#: how long a claim stands without its holder finishing: beyond a vendor call's whole retry
#: budget (`vendors.http.RetryPolicy.budget_s`, 15 s) and its timeouts, so a live call is never
#: taken over, and short enough that a crashed one is retried within the minute
CLAIM_TTL = timedelta(seconds=60)


class VendorClaim(Base):
    """The one row of an intent (``liveness:application:12``): busy while ``busy_until`` is
    ahead, held by ``holder``; ``generation`` counts the finished attempts (part of the key)."""

    __tablename__ = "vendor_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    intent: Mapped[str] = mapped_column(String(96), unique=True)
    #: random, made with the row: keys are unique to this database (another install, or a
    #: database rebuilt, never replays this one's answers at a vendor)
    salt: Mapped[str] = mapped_column(String(32))
    generation: Mapped[int] = mapped_column(default=0)
    holder: Mapped[str | None] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    busy_until: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]


class Busy(Exception):
    """Another caller holds the intent: its vendor call is in flight."""


@dataclass(frozen=True)
class Claim:
    intent: str
    holder: str
    #: what the vendor call carries: the same for a take-over of a crashed attempt asking the
    #: same thing, new for each finished attempt
    idempotency_key: str


def fingerprint(*parts: bytes | str) -> str:
    """A digest of what the call asks (the selfie, the code): part of its idempotency key."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x00")
    return h.hexdigest()


def _key(salt: str, generation: int, digest: str) -> str:
    return hashlib.sha256(f"{salt}\x00{generation}\x00{digest}".encode()).hexdigest()[:40]


def claim(session: Session, intent: str, *, digest: str = "",
          ttl: timedelta = CLAIM_TTL) -> Claim:
    """Mark ``intent`` busy for this caller and commit (with whatever the session had pending);
    `Busy` (the session rolled back) while another caller's claim stands."""
    now = utcnow()
    holder = secrets.token_hex(16)
    row = session.execute(select(VendorClaim.id, VendorClaim.generation, VendorClaim.salt)
                          .where(VendorClaim.intent == intent)).first()
    if row is None:
        salt = secrets.token_hex(16)
        session.add(VendorClaim(intent=intent, salt=salt, generation=0, holder=holder,
                                fingerprint=digest, busy_until=now + ttl, claimed_at=now))
        try:
            session.commit()
        except IntegrityError:  # a racer inserted it first: it holds the intent
            session.rollback()
            raise Busy(intent) from None
        return Claim(intent, holder, _key(salt, 0, digest))
    claimed = session.execute(
        update(VendorClaim).where(
            VendorClaim.id == row.id, VendorClaim.generation == row.generation,
            or_(VendorClaim.busy_until.is_(None), VendorClaim.busy_until <= now))
        .values(holder=holder, fingerprint=digest, busy_until=now + ttl, claimed_at=now)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        session.rollback()
        raise Busy(intent)
    session.commit()
    return Claim(intent, holder, _key(row.salt, row.generation, digest))


def once(session: Session, intent: str, call: Callable[[str], T], *, digest: str = "",
         busy: str, details: dict[str, Any] | None = None,
         check: Callable[[], None] | None = None) -> tuple[Claim, T]:
    """Claim ``intent``, run ``check`` (what may have changed before the claim: a step already
    taken), then ``call(idempotency_key)`` with no transaction open; (the claim, its answer).

    Conflict with ``busy`` and ``details`` while another caller holds the intent (no call made).
    Whatever ``check`` or ``call`` raises frees the intent (`abandon`) and goes on up; the
    caller records the answer and `finish`-es the claim in one transaction."""
    try:
        claimed = claim(session, intent, digest=digest)
    except Busy:
        raise Conflict(busy, details=details) from None
    try:
        if check is not None:
            check()
        answer = call(claimed.idempotency_key)
    except BaseException:
        abandon(session, claimed)
        raise
    return claimed, answer


def _free(session: Session, claimed: Claim, *, finished: bool) -> bool:
    values: dict[str, Any] = {"holder": None, "busy_until": None}
    if finished:
        values["generation"] = VendorClaim.generation + 1
    freed = session.execute(
        update(VendorClaim).where(VendorClaim.intent == claimed.intent,
                                  VendorClaim.holder == claimed.holder)
        .values(**values).execution_options(synchronize_session=False))
    return freed.rowcount == 1


def finish(session: Session, claimed: Claim) -> None:
    """Free the intent as done, in the caller's outcome transaction (flushed, not committed).
    Conflict (rolled back) when the claim is no longer the caller's: it went stale and another
    caller took it over with the same key, and that caller records the outcome."""
    if not _free(session, claimed, finished=True):
        session.rollback()
        raise Conflict("this request took too long and was taken over by a newer one; "
                       "its answer is recorded there")


def abandon(session: Session, claimed: Claim) -> None:
    """Free the intent after a failed or refused call (committed, with nothing else): the same
    request asked again carries the same idempotency key."""
    session.rollback()
    _free(session, claimed, finished=False)
    session.commit()
