"""The token cache: a verified token is served from memory, and revocation still reaches every
process in the documented bound — at once where it was committed, within ``check_every``
elsewhere (shared Redis counter, or short-lived entries without one), within ``trust_for``
when changed by hand in the database; expiry is checked on every request; with the counter
unreadable nothing is trusted."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, sessionmaker

from chedaitong.db import Role, User
from chedaitong.db.origination import ApiToken
from decisioning.origination import dealers, tokens
from decisioning.origination.accounts import hash_token, issue_token
from decisioning.origination.token_cache import LocalGeneration, RedisGeneration, TokenCache

from .test_queue import REDIS_URL, _redis_or_skip

BOUND = 0.2  # check_every of the caches under test (seconds)


def _statements(engine) -> list[int]:
    n = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_a):
        n[0] += 1

    return n


def _auth(cache: TokenCache, sessions, token: str) -> tuple[str, int | None] | None:
    with sessions() as s:
        found = cache.authenticate(session=s, token=token)
        return None if found is None else (found[0].username, found[0].dealer_id)


def _token_id(engine, token: str) -> int:
    with Session(engine) as s:
        return s.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(token)))


@pytest.fixture
def shared():
    """A fresh Redis counter key per test, and a factory of caches (processes) sharing it."""
    _redis_or_skip()
    import redis

    key = f"test-auth-generation-{uuid.uuid4().hex[:8]}"
    clients = []

    def make(**kw) -> TokenCache:
        clients.append(redis.Redis.from_url(REDIS_URL))
        return TokenCache(RedisGeneration(clients[-1], key=key), check_every=BOUND, **kw)

    yield make
    clients[0].delete(key) if clients else None
    for c in clients:
        c.close()


def _web_and_admin(engine, shared):
    """A web process's cache and its sessions, and the admin process's sessions, watched by
    the admin's own cache (so its revocations bump the shared counter)."""
    web, admin = shared(), shared()
    web_sessions, admin_sessions = sessionmaker(engine), sessionmaker(engine)
    admin.watch(admin_sessions)
    return web, web_sessions, admin_sessions


@pytest.mark.parametrize("counter", ["redis", "local"])
def test_a_token_revoked_in_one_process_stops_in_the_others_within_the_bound(
        engine, staff, shared, counter):
    def make() -> TokenCache:
        return shared() if counter == "redis" else TokenCache(LocalGeneration(),
                                                              check_every=BOUND)

    web, admin = make(), make()
    web_sessions, admin_sessions = sessionmaker(engine), sessionmaker(engine)
    admin.watch(admin_sessions)
    token = staff.tokens["c1"]
    assert _auth(web, web_sessions, token) == ("c1", staff.dealers["DA"])
    statements = _statements(engine)
    assert _auth(web, web_sessions, token) == ("c1", staff.dealers["DA"])  # from memory
    assert statements[0] == 0
    assert _auth(admin, admin_sessions, token) is not None  # trusted there too, then revoked
    with admin_sessions() as s:
        tokens.revoke(session=s, actor=s.get(User, staff.users["ad"]),
                      token_id=_token_id(engine, token))
    assert _auth(admin, admin_sessions, token) is None  # where it was revoked: at once
    time.sleep(BOUND * 1.5)
    assert _auth(web, web_sessions, token) is None  # elsewhere: within the bound
    assert _auth(web, web_sessions, staff.tokens["c2"])[0] == "c2"  # others keep working


def test_a_deactivated_consultant_is_refused_everywhere_within_the_bound(engine, staff,
                                                                        shared):
    web, web_sessions, admin_sessions = _web_and_admin(engine, shared)
    assert _auth(web, web_sessions, staff.tokens["c1"]) is not None
    with admin_sessions() as s:
        dealers.set_consultant_active(session=s, actor=s.get(User, staff.users["ad"]),
                                      user_id=staff.users["c1"], active=False)
    time.sleep(BOUND * 1.5)
    assert _auth(web, web_sessions, staff.tokens["c1"]) is None


def test_a_rolled_back_revocation_does_not_flush_the_caches(engine, staff, shared):
    web, web_sessions, admin_sessions = _web_and_admin(engine, shared)
    assert _auth(web, web_sessions, staff.tokens["c1"]) is not None
    with admin_sessions() as s:  # a revocation that fails: nothing changed, nothing to drop
        s.get(ApiToken, _token_id(engine, staff.tokens["c2"])).revoked_at = datetime.now(UTC)
        tokens.note_revocation(s)
        s.flush()
        s.rollback()
        s.execute(select(User.id).limit(1))
        s.commit()  # an unrelated commit afterwards
    time.sleep(BOUND * 1.5)
    statements = _statements(engine)
    assert _auth(web, web_sessions, staff.tokens["c1"]) is not None
    assert statements[0] == 0


def test_a_revocation_survives_a_rolled_back_savepoint_of_its_transaction(engine, staff,
                                                                          shared):
    web, web_sessions, admin_sessions = _web_and_admin(engine, shared)
    assert _auth(web, web_sessions, staff.tokens["c2"]) is not None
    with admin_sessions() as s:
        s.get(ApiToken, _token_id(engine, staff.tokens["c2"])).revoked_at = datetime.now(UTC)
        tokens.note_revocation(s)
        savepoint = s.begin_nested()
        s.execute(select(User.id).limit(1))
        savepoint.rollback()  # some other step undone; the revocation still commits
        s.commit()
    time.sleep(BOUND * 1.5)
    assert _auth(web, web_sessions, staff.tokens["c2"]) is None


def test_an_expired_token_is_refused_even_while_trusted(engine, staff, shared):
    web = shared()
    web.check_every = 60.0  # nothing would be re-read: only the expiry stops it
    with Session(engine) as s:
        token = issue_token(s, s.get(User, staff.users["c1"]), ttl=timedelta(seconds=1))
        s.commit()
    sessions = sessionmaker(engine)
    assert _auth(web, sessions, token) is not None
    time.sleep(1.2)
    assert _auth(web, sessions, token) is None


def test_a_change_by_hand_in_the_database_is_seen_within_trust_for(engine, staff, shared):
    web = shared(trust_for=0.4)
    sessions = sessionmaker(engine)
    assert _auth(web, sessions, staff.tokens["c1"]) is not None
    with Session(engine) as s:  # no counter bump: SQL outside the platform
        s.execute(update(ApiToken).where(ApiToken.id == _token_id(engine, staff.tokens["c1"]))
                  .values(revoked_at=datetime.now(UTC)))
        s.commit()
    time.sleep(0.5)
    assert _auth(web, sessions, staff.tokens["c1"]) is None


def test_with_the_counter_unreadable_every_request_is_verified_in_the_database(engine, staff):
    import redis

    down = TokenCache(RedisGeneration(redis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.2)), check_every=0.0)
    sessions = sessionmaker(engine)
    token = staff.tokens["c1"]
    assert _auth(down, sessions, token) is not None
    with Session(engine) as s:  # revoked by hand, and no counter to tell anyone
        s.execute(update(ApiToken).where(ApiToken.id == _token_id(engine, token))
                  .values(revoked_at=datetime.now(UTC)))
        s.commit()
    assert _auth(down, sessions, token) is None


def test_over_http_a_revoked_token_stops_at_once_and_last_use_is_still_recorded(api, staff,
                                                                                engine):
    client = api.test_client()
    listed = client.get("/auth/tokens", headers=staff.h("c2"))
    assert listed.status_code == 200
    mine = next(t for t in listed.json if t["current"])
    assert client.get("/auth/tokens", headers=staff.h("c2")).json[0]["last_used_at"]
    assert client.delete(f"/auth/tokens/{mine['id']}",
                         headers=staff.h("c2")).status_code == 204
    assert client.get("/auth/tokens", headers=staff.h("c2")).status_code == 401
    assert client.get("/auth/tokens", headers=staff.h("c1")).status_code == 200


def test_a_trusted_token_puts_nothing_in_the_session_and_its_user_outlives_a_rollback(
        engine, staff):
    """From memory the signed-in user is the cached snapshot, not merged into the request's
    session (on the old code it was, per request: an object in its identity map, expired by
    a rollback, so reading the user after a failed step read the row again)."""
    cache = TokenCache(LocalGeneration(), check_every=BOUND)
    sessions = sessionmaker(engine)
    token = staff.tokens["c1"]
    assert _auth(cache, sessions, token) == ("c1", staff.dealers["DA"])  # verified, cached
    with sessions() as s:
        statements = _statements(engine)
        user, _ = cache.authenticate(session=s, token=token)
        assert not [o for o in s.identity_map.values() if isinstance(o, User)]
        s.rollback()  # a step that failed
        assert (user.id, user.username, user.role, user.dealer_id, user.active) == (
            staff.users["c1"], "c1", Role.CONSULTANT, staff.dealers["DA"], True)
        assert statements[0] == 0
