"""Every error leaves the API as JSON: `{"code", "status", "message", "errors"?}`.

Domain errors (`chedaitong.errors`) are mapped to HTTP here, once; clients (the user app, the
store app) never see an HTML page or a traceback; 5xx details go to the log, not the response.
A database connection the server dropped is 503 with ``Retry-After: 1``: the pool is not
pinged on checkout (`chedaitong.db.session`), so the request that finds the break answers it.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import DBAPIError, IntegrityError
from werkzeug.exceptions import (
    BadGateway,
    Conflict,
    Forbidden,
    HTTPException,
    InternalServerError,
    NotFound,
    ServiceUnavailable,
    UnprocessableEntity,
)

from chedaitong import errors as domain
from webapp.conflicts import conflict_for
from webapp.idempotency import HEADER as IDEMPOTENCY_HEADER

log = logging.getLogger(__name__)

#: domain error → the HTTP error it is answered with
STATUS: tuple[tuple[type[domain.DomainError], type[HTTPException]], ...] = (
    (domain.NotFound, NotFound),
    (domain.NotPermitted, Forbidden),
    (domain.Conflict, Conflict),
    (domain.Invalid, UnprocessableEntity),
    (domain.Rejected, UnprocessableEntity),
    (domain.Unavailable, ServiceUnavailable),
    (domain.VendorFailed, BadGateway),
)


def http_error_for(exc: domain.DomainError) -> HTTPException:
    """The HTTP error a domain error is answered with (the pages render the same one)."""
    http = next((h for d, h in STATUS if isinstance(exc, d)), InternalServerError)
    err = http(exc.message)
    data: dict = {}
    if isinstance(exc, domain.Invalid):  # one field of the JSON body, as webargs reports it
        reasons = exc.reason if isinstance(exc.reason, list | dict) else [exc.reason]
        data["messages"] = {"json": {exc.field: reasons}}
    if exc.details:
        data["extra"] = exc.details
    if data:
        err.data = data
    return err


def _http_error(exc: HTTPException):
    body = {"code": exc.code, "status": exc.name, "message": exc.description}
    # flask-smorest/webargs attach per-field validation messages here.
    messages = getattr(exc, "data", {}).get("messages") if hasattr(exc, "data") else None
    if messages:
        body["errors"] = messages
    extra = getattr(exc, "data", {}).get("extra") if hasattr(exc, "data") else None
    if extra:
        body.update(extra)
    # Allow on 405, WWW-Authenticate, Retry-After: what the exception says besides its body
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return jsonify(body), exc.code, headers


def _domain_error(exc: domain.DomainError):
    return _http_error(http_error_for(exc))


def _integrity_error(exc: IntegrityError):
    conflict = conflict_for(exc)
    if conflict is None:
        return _unexpected_error(exc)
    log.info("unique violation answered 409: %s", conflict.description)
    return _http_error(conflict)


#: seconds a client waits before retrying a request that met a dropped database connection
LOST_CONNECTION_RETRY_S = 1


def _database_error(exc: DBAPIError):
    """A connection the server dropped (restart, failover, an idle cut): SQLAlchemy has
    invalidated it and every pooled connection as old, so a retry reconnects — 503, not 500.
    Retry-After only where a retry is safe: a read, or a write carrying an Idempotency-Key
    (the cut may have come after the commit, and a bare POST retried would be done twice).
    Any other driver error is unexpected."""
    if not exc.connection_invalidated:
        return _unexpected_error(exc)
    log.warning("database connection lost, answered 503: %s %s", request.method, request.path,
                exc_info=exc)
    safe = request.method in ("GET", "HEAD", "OPTIONS") or request.headers.get(IDEMPOTENCY_HEADER)
    return _http_error(ServiceUnavailable(
        "the database connection was lost; retry shortly" if safe else
        "the database connection was lost; the request may or may not have been applied — "
        "check its state before sending it again",
        retry_after=LOST_CONNECTION_RETRY_S if safe else None))


def _unexpected_error(exc: Exception):
    log.exception("unhandled error")
    return _http_error(InternalServerError())


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(domain.DomainError, _domain_error)
    app.register_error_handler(IntegrityError, _integrity_error)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(Exception, _unexpected_error)
