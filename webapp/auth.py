"""Bearer-token authentication and the role gate of the API and the pages.

The token lookup is the domain's (`decisioning.origination.tokens`), through the process's
`token_cache.TokenCache` (verified tokens kept in memory; revocation reaches every process
within `token_cache.CHECK_EVERY` — see there); here: reading the header, and refusing a user
whose role may not call a view.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, current_app, g, request
from werkzeug.exceptions import Forbidden, Unauthorized

from chedaitong.config import Settings
from chedaitong.db import Role, User
from decisioning.origination.access import STAFF
from decisioning.origination.token_cache import LocalGeneration, RedisGeneration, TokenCache
from webapp import database

__all__ = ["BEARER", "STAFF", "check_role", "current_user", "init_app", "roles_required"]

EXTENSION = "chedaitong.tokens"


def init_app(app: Flask, settings: Settings) -> TokenCache:
    """The process's token cache: its revocation counter in the Redis of the rate limits or
    the queue when one is configured (shared by every process), else in this process. It
    drops what it trusts after every commit that revokes (`tokens.note_revocation`)."""
    url = settings.redis_url or settings.queue_url
    if url:
        import redis

        generation: LocalGeneration | RedisGeneration = RedisGeneration(
            redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5))
    else:
        generation = LocalGeneration()
    cache = TokenCache(generation)
    cache.watch(app.extensions[database.EXTENSION]["sessions"])
    app.extensions[EXTENSION] = cache
    return cache


def current_user() -> User:
    """The signed-in user; 401 without a valid bearer token."""
    if "user" in g:
        return g.user
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>")
    found = current_app.extensions[EXTENSION].authenticate(session=database.session(),
                                                           token=token.strip())
    if found is None:
        raise Unauthorized("the token is unknown, expired or revoked, or its user is inactive")
    g.user, g.token_id = found
    return g.user


def check_role(user: User, roles: tuple[Role, ...], what: str = "do this") -> None:
    """403 unless ``user`` has one of ``roles`` (no roles: anyone signed in)."""
    if roles and user.role not in roles:
        raise Forbidden(f"role {user.role.value} may not {what}; allowed: "
                        + ", ".join(r.value for r in roles))


def roles_required(*roles: Role) -> Callable:
    """Allow the view to users with one of ``roles`` (401 without a token, 403 otherwise)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            check_role(current_user(), roles)
            return view(*args, **kwargs)

        return wrapper

    return decorator


BEARER = {"bearerAuth": []}
