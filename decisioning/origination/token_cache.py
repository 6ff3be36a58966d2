"""Verified bearer tokens kept per process, so a request does not join the token and its user
in the database every time — with revocation reaching every process in a bounded time.

A token revoked, or its user deactivated, through the platform (`tokens.revoke`,
`tokens.rotate`, `dealers.set_consultant_active`: they call `tokens.note_revocation`) stops working

- in the process that committed it: at once (its cache is dropped after the commit);
- in every other process: within `CHECK_EVERY` — each re-reads a generation counter the
  revoking process bumped (Redis) at most that often, and drops its cache when it moved;
- without a shared counter (no Redis: the demo, tests): each process trusts a verification
  for `CHECK_EVERY` only, the same bound;
- when changed outside the platform (SQL by hand, a lost bump): within `TRUST_FOR`.

Expiry is checked on every request against the cached ``expires_at``. While the counter
cannot be read (a Redis outage) nothing is trusted: every request verifies in the database.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from chedaitong.db import User
from chedaitong.db.base import as_utc
from decisioning.origination import tokens
from decisioning.origination.accounts import hash_token

log = logging.getLogger(__name__)

#: the most another process keeps honouring a token revoked through the platform (seconds)
CHECK_EVERY = 1.0
#: the most a verification is trusted without reading the database again (seconds)
TRUST_FOR = 60.0
#: verified tokens kept per process (the oldest half is dropped beyond)
MAX_ENTRIES = 10_000


class LocalGeneration:
    """The counter of one process: nothing shared, so verifications live `CHECK_EVERY`."""

    shared = False

    def __init__(self) -> None:
        self._value = 0

    def read(self) -> int:
        return self._value

    def bump(self) -> None:
        self._value += 1


class RedisGeneration:
    """A counter in Redis every process of the platform reads and the revoking one bumps."""

    shared = True

    def __init__(self, client: Any, key: str = "chedaitong:auth-generation"):
        self.client, self.key = client, key

    def read(self) -> int:
        return int(self.client.get(self.key) or 0)

    def bump(self) -> None:
        self.client.incr(self.key)


@dataclass(frozen=True)
class _Entry:
    #: detached snapshot, every column loaded, shared by the requests that use the token:
    #: read-only (nothing writes to the signed-in user; `dealers.set_consultant_active`
    #: changes the row it reads itself), never attached to a session
    user: User
    token_id: int
    expires_at: datetime | None
    last_used_at: datetime | None
    generation: int
    verified_at: float  # time.monotonic()


def _snapshot(user: User) -> User:
    copy = User(**{a.key: getattr(user, a.key) for a in inspect(User).column_attrs})
    make_transient_to_detached(copy)
    return copy


class TokenCache:
    """`authenticate` as `tokens.authenticate` does, from memory while trusted."""

    def __init__(self, generation: LocalGeneration | RedisGeneration, *,
                 check_every: float = CHECK_EVERY, trust_for: float = TRUST_FOR,
                 max_entries: int = MAX_ENTRIES):
        self.generation = generation
        self.check_every = check_every
        self.lifetime = trust_for if generation.shared else check_every
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._current: int | None = None
        self._checked_at = float("-inf")

    def _generation(self) -> int | None:
        """The counter, re-read at most every `check_every`; None while it cannot be read."""
        now = time.monotonic()
        if now - self._checked_at < self.check_every:
            return self._current
        with self._lock:
            if now - self._checked_at >= self.check_every:
                try:
                    value: int | None = self.generation.read()
                except Exception:  # noqa: BLE001 - an outage: trust nothing meanwhile
                    log.warning("token revocation counter unreadable; verifying every "
                                "request in the database", exc_info=True)
                    value = None
                if value != self._current:
                    self._entries.clear()
                self._current, self._checked_at = value, now
        return self._current

    def authenticate(self, *, session: Session, token: str) -> tuple[User, int] | None:
        """(user, token id) for a live token of an active user; None otherwise. Records the
        token's use as `tokens.authenticate` does. The user is the cached detached snapshot
        when trusted from memory (its columns, no session: not merged into ``session`` per
        request, so a rollback of it expires nothing to read again), else the row
        `tokens.authenticate` read in ``session``."""
        key = hash_token(token)
        generation = self._generation()  # before any read: a bump after it is seen next time
        entry = self._entries.get(key)
        now = datetime.now(UTC)
        if (entry is not None and generation is not None and entry.generation == generation
                and time.monotonic() - entry.verified_at < self.lifetime
                and (entry.expires_at is None or entry.expires_at > now)):
            self._record_use(session, key, entry, now)
            return entry.user, entry.token_id
        found = tokens.authenticate(session=session, token=token)
        if found is None:
            self._entries.pop(key, None)
            return None
        user, row = found
        last = as_utc(row.last_used_at)
        if last is None or now - last > tokens.LAST_USED_EVERY:
            last = now  # `tokens.authenticate` has just written it
        if generation is not None:
            if len(self._entries) >= self.max_entries:
                for old in list(self._entries)[: self.max_entries // 2]:
                    self._entries.pop(old, None)
            self._entries[key] = _Entry(
                _snapshot(user), row.id, as_utc(row.expires_at), last, generation,
                time.monotonic())
        return user, row.id

    def _record_use(self, session: Session, key: str, entry: _Entry, now: datetime) -> None:
        """Last use written at most every `tokens.LAST_USED_EVERY`, as without the cache."""
        if entry.last_used_at is not None and now - entry.last_used_at <= tokens.LAST_USED_EVERY:
            return
        self._entries[key] = replace(entry, last_used_at=now)
        tokens.record_use(session, entry.token_id, now)

    def revoked(self) -> None:
        """A revocation committed in this process: trust nothing here, tell the others."""
        # Bump before clearing: a request verified just before the commit caches under the
        # old counter value, and a re-read after the clear must already see the new one.
        try:
            self.generation.bump()
        except Exception:  # noqa: BLE001 - the others then see it within TRUST_FOR
            log.error("could not bump the token revocation counter: other processes may "
                      "honour the revoked token for up to %s s", TRUST_FOR, exc_info=True)
        with self._lock:
            self._entries.clear()
            self._current, self._checked_at = None, float("-inf")

    def watch(self, sessions: Any) -> None:
        """Call `revoked` after each commit of a ``sessions`` session that
        `tokens.note_revocation` marked (a rollback forgets the mark)."""
        from sqlalchemy import event

        def after_commit(session: Session) -> None:
            if session.info.pop(tokens.REVOKED, False):
                self.revoked()

        def after_rollback(session: Session, previous: Any) -> None:
            if previous.parent is None:  # a savepoint's rollback leaves the mark for the commit
                session.info.pop(tokens.REVOKED, None)

        event.listen(sessions, "after_commit", after_commit)
        event.listen(sessions, "after_soft_rollback", after_rollback)
