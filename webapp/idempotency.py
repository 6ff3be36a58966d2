"""`Idempotency-Key` on creating POSTs: a retried request gets the first response, not a
second application, voucher or SMS.

The key is scoped to the user; reusing it with a different body is a client bug (422).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable

from flask import Response, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import UnprocessableEntity

from chedaitong.db.origination import IdempotencyRecord
from webapp import database
from webapp.auth import current_user

HEADER = "Idempotency-Key"


def _request_hash() -> str:
    digest = hashlib.sha256(request.method.encode() + request.path.encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        err = UnprocessableEntity(f"{HEADER} was already used for a different request")
        err.data = {"messages": {"headers": {HEADER: ["reused with a different request"]}}}
        raise err
    resp = Response(json.dumps(record.response_json), record.status_code,
                    mimetype="application/json")
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def idempotent(view: Callable) -> Callable:
    """Wrap a view (outside flask-smorest's decorators) so its first 2xx/4xx answer is kept."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 128:
            err = UnprocessableEntity(f"{HEADER} must be 1 to 128 characters")
            err.data = {"messages": {"headers": {HEADER: ["must be 1 to 128 characters"]}}}
            raise err
        user = current_user()
        request_hash = _request_hash()
        session = database.session()
        found = session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user.id, IdempotencyRecord.key == key))
        if found is not None:
            return _replay(found, request_hash)
        resp = view(*args, **kwargs)
        if resp.status_code >= 500 or not resp.is_json:
            return resp
        session = database.session()
        session.rollback()  # the view committed its work; start clean for the key's row
        record = IdempotencyRecord(user_id=user.id, key=key, method=request.method,
                                   path=request.path, request_hash=request_hash,
                                   status_code=resp.status_code, response_json=resp.get_json())
        session.add(record)
        try:
            session.commit()
        except IntegrityError:  # a concurrent duplicate won the race: answer as it did
            session.rollback()
            first = session.scalar(select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == user.id, IdempotencyRecord.key == key))
            return _replay(first, request_hash)
        return resp

    return wrapper
