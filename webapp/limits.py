"""Throttling of what can be guessed or abused: wrong bearer tokens, page sign-ins, voucher
codes, liveness attempts and anonymous registrations (Flask-Limiter; 429 with Retry-After).

Counters live in Redis when ``CHEDAITONG_REDIS_URL`` is set, so every gunicorn worker shares
them; otherwise each process counts in memory (fine for one process, the demo and tests). A
Redis outage lets requests through (counted in memory meanwhile) rather than failing them.
Failures-only limits (``deduct_when``) count wrong guesses, not a dealer's honest checks — but
once exceeded they refuse the right code too, so guessing stops paying.

Flask-Limiter's ``X-RateLimit-*`` headers are off: with them every response (the token-failure
limit applies to all) read the counters once more and carried ``Retry-After`` — a 200 telling
clients to wait a minute. Only a 429 says when to come back (`_retry_after`).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request
from flask import session as flask_session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from chedaitong.config import Settings

EXTENSION = "chedaitong.limits"


def client_ip() -> str:
    return get_remote_address() or "unknown"


def bearer_or_ip() -> str:
    """One signed-in caller (their token, hashed: no database read before the view), else IP."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer ") and header[7:].strip():
        return "t:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:24]
    return "ip:" + client_ip()


def page_user_or_ip() -> str:
    """One signed-in page user (the signed session's user id: no database read), else IP."""
    uid = flask_session.get("uid")
    return f"page:{uid}" if uid is not None else "ip:" + client_ip()


def page_voucher_mismatch(_response: Response) -> bool:
    """A page's voucher check that did not match (the page says so; `webapp.pages.vouchers`)."""
    return bool(g.get("voucher_mismatch"))


def failed(response: Response) -> bool:
    """A refused attempt (4xx other than the 429 itself)."""
    return 400 <= response.status_code < 500 and response.status_code != 429


def not_valid(response: Response) -> bool:
    """A voucher check that did not match (answered 200 ``valid: false``), or refused."""
    if failed(response):
        return True
    body = response.get_json(silent=True) if response.is_json else None
    return isinstance(body, dict) and body.get("valid") is False


@dataclass(frozen=True)
class Rule:
    limit: str
    key: Callable[[], str]
    deduct_when: Callable[[Response], bool] | None = None
    methods: tuple[str, ...] | None = None  # None: every method of the endpoint


#: endpoint → its limit; `TOKEN_FAILURES` is shared by every endpoint (per client address).
LIMITS: dict[str, Rule] = {
    "customers.register": Rule("10 per hour", client_ip),
    "customers.liveness": Rule("20 per hour", bearer_or_ip),
    "applications.liveness": Rule("20 per hour", bearer_or_ip),
    "backoffice.verify_voucher": Rule("10 per 15 minutes", bearer_or_ip, not_valid),
    "pages.login": Rule("10 per 15 minutes", client_ip, failed, ("POST",)),
    # the page checks the same 8-digit codes as POST /vouchers/verify: the same budget
    "pages.voucher_lookup": Rule("10 per 15 minutes", page_user_or_ip, page_voucher_mismatch,
                                 ("POST",)),
}
TOKEN_FAILURES = "30 per minute"


def _wrong_token(response: Response) -> bool:
    """A 401 for a token that was sent (a guess), not for a request that sent none."""
    return response.status_code == 401 and bool(request.headers.get("Authorization"))


def init_app(app: Flask, settings: Settings) -> Limiter:
    """One limiter per app, applied to the endpoints in `LIMITS` (registered before this)."""
    limiter = Limiter(
        key_func=client_ip,
        app=None,
        storage_uri=settings.redis_url or "memory://",
        strategy="moving-window",
        headers_enabled=False,  # Retry-After on 429s only (`_retry_after`)
        swallow_errors=True,  # a Redis outage must not take the API down ...
        in_memory_fallback_enabled=True,  # ... and is counted per process meanwhile
        # tests build many apps against one Redis: each counts apart
        key_prefix=f"cdt-test-{uuid.uuid4().hex[:8]}" if settings.env == "test" else "cdt",
        application_limits=[TOKEN_FAILURES],
        application_limits_deduct_when=_wrong_token,
    )
    limiter.init_app(app)
    for endpoint, rule in LIMITS.items():
        view = app.view_functions.get(endpoint)
        if view is not None:
            app.view_functions[endpoint] = limiter.limit(
                rule.limit, key_func=rule.key, deduct_when=rule.deduct_when,
                methods=list(rule.methods) if rule.methods else None)(view)
    app.extensions[EXTENSION] = limiter
    app.after_request(_retry_after)
    return limiter


def _retry_after(response: Response) -> Response:
    """A 429 (API or page) carries ``Retry-After``: the seconds until the breached limit's
    window lets a request through again (its whole window if the counters cannot be read)."""
    if response.status_code != 429 or "Retry-After" in response.headers:
        return response
    breached = current_app.extensions[EXTENSION].current_limit
    seconds = 1
    if breached is not None:
        try:
            seconds = breached.reset_at - int(time.time())
        except Exception:  # noqa: BLE001 - a storage outage: the limit's full window
            seconds = breached.limit.get_expiry()
    response.headers["Retry-After"] = str(max(1, seconds))
    return response
