"""`Idempotency-Key` on creating POSTs: a retried request gets the first answer, not a second
application, voucher or SMS.

The key is *reserved* before the view runs: a row (user, endpoint, key) with no answer yet is
committed first, and the unique constraint lets exactly one request insert it. A concurrent
duplicate therefore never does the work; it waits for the first answer (a few seconds at most)
and replays it — a success or a 4xx alike, so a retry of a refused request is refused the same
way. A 5xx or an exception releases the key, so the client's retry may succeed. Keys are
scoped to the user and the endpoint (the same key on another operation is another request),
expire after `TTL`, and reusing one with a different body is a client bug (422).

Replay bodies are stored in the database, so a view that answers with a secret (a bearer
token) names it in ``secret_fields``: the stored copy has it removed, and a replay says the
secret was issued with the first answer and is not shown again. Everything else of a stored
body is sealed with the data key (`chedaitong.crypto`, bound to its row): an answer may hold
personal data — a payout export's bank file has the dealers' full account numbers — and
personal data is encrypted at rest.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Response, current_app, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Conflict, UnprocessableEntity

from chedaitong.db.origination import IdempotencyRecord
from webapp import database
from webapp.auth import current_user
from webapp.services import services

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
WAIT_SECONDS = 15.0  # how long a duplicate waits for the first request's answer
STALE = timedelta(minutes=5)  # a reservation this old without an answer was abandoned
NOT_KEPT = {408, 429}  # transient answers: a retry should try again, not replay them
SECRET_NOTE = "issued with the first response to this Idempotency-Key; not shown again"


def _now() -> datetime:
    return datetime.now(UTC)


def _request_hash() -> str:
    digest = hashlib.sha256(request.method.encode() + request.path.encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _unprocessable(reason: str) -> UnprocessableEntity:
    err = UnprocessableEntity(f"{HEADER} {reason}")
    err.data = {"messages": {"headers": {HEADER: [reason]}}}
    return err


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise _unprocessable("was already used for a different request")
    resp = current_app.json.response(_opened(record))  # serialised as the first was
    resp.status_code = record.status_code
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def _aad(record_id: int) -> bytes:
    return f"idempotency_keys:{record_id}".encode()


def _sealed(body: object, record_id: int) -> dict[str, str]:
    """``body`` as stored: encrypted, bound to its row (a sealed body moved to another row
    does not open)."""
    plain = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return {"sealed": base64.b64encode(
        services().store.cipher.encrypt(plain, _aad(record_id))).decode()}


def _opened(record: IdempotencyRecord) -> object:
    stored = record.response_json
    if isinstance(stored, dict) and set(stored) == {"sealed"}:
        return json.loads(services().store.cipher.decrypt(
            base64.b64decode(stored["sealed"]), _aad(record.id)))
    return stored  # stored before bodies were sealed (kept `TTL` at most)


def _find(session, user_id: int, endpoint: str, key: str) -> IdempotencyRecord | None:
    return session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.endpoint == endpoint,
        IdempotencyRecord.key == key))


def _reserve(user_id: int, endpoint: str, key: str, request_hash: str
             ) -> int | IdempotencyRecord:
    """The id of our new reservation, or the other request's answered record to replay."""
    session = database.session()
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        now = _now()
        session.execute(delete(IdempotencyRecord).where(  # expired keys, and abandoned ones
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.expires_at < now))
        session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.status_code.is_(None),
            IdempotencyRecord.created_at < now - STALE))
        record = IdempotencyRecord(user_id=user_id, endpoint=endpoint, key=key,
                                   method=request.method, path=request.path[:255],
                                   request_hash=request_hash, created_at=now,
                                   expires_at=now + TTL)
        session.add(record)
        try:
            session.commit()
            return record.id
        except IntegrityError:  # the key is taken: answer as the first request did
            session.rollback()
        found = _find(session, user_id, endpoint, key)
        if found is not None and found.request_hash != request_hash:
            raise _unprocessable("was already used for a different request")
        if found is not None and found.status_code is not None:
            return found
        if time.monotonic() > deadline:
            err = Conflict(f"a request with this {HEADER} is still being processed; retry")
            err.data = {"messages": {"headers": {HEADER: ["still being processed"]}}}
            raise err
        session.rollback()  # see the other transaction's commit on the next look
        time.sleep(0.05)


def _release(record_id: int) -> None:
    session = database.session()
    session.rollback()
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
    session.commit()


def _kept_body(body: object, secret_fields: tuple[str, ...]) -> object:
    if not secret_fields or not isinstance(body, dict):
        return body
    kept = {k: (None if k in secret_fields else v) for k, v in body.items()}
    if any(k in body for k in secret_fields):
        kept["secret_note"] = SECRET_NOTE
    return kept


def _answer(view: Callable, args, kwargs) -> Response:
    """The view's response, with errors rendered as the app's handlers render them."""
    try:
        return current_app.make_response(view(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - rendered by the app's handlers (500 included)
        return current_app.make_response(current_app.handle_user_exception(exc))


def idempotent(view: Callable | None = None, *, secret_fields: tuple[str, ...] = ()):
    """Wrap a view (outside flask-smorest's decorators) so its first 2xx/4xx answer is kept.

    ``secret_fields``: top-level fields of the answer never stored for replay.
    """
    if view is None:
        return functools.partial(idempotent, secret_fields=secret_fields)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 128:
            raise _unprocessable("must be 1 to 128 characters")
        user = current_user()
        user_id, request_hash = user.id, _request_hash()
        endpoint = (request.endpoint or request.path)[:128]
        reserved = _reserve(user_id, endpoint, key, request_hash)
        if isinstance(reserved, IdempotencyRecord):
            return _replay(reserved, request_hash)
        try:
            resp = _answer(view, args, kwargs)
        except BaseException:
            _release(reserved)
            raise
        if resp.status_code >= 500 or resp.status_code in NOT_KEPT or not resp.is_json:
            _release(reserved)
            return resp
        session = database.session()
        session.rollback()  # the view committed its work; the answer is stored on its own
        session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == reserved).values(
            status_code=resp.status_code,
            response_json=_sealed(_kept_body(resp.get_json(), secret_fields), reserved)))
        session.commit()
        return resp

    return wrapper
