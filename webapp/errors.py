"""Every error leaves the API as JSON: `{"code", "status", "message", "errors"?}`.

Clients (the user app, the store app) never see an HTML page or a traceback; 5xx details go
to the log, not the response.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def _http_error(exc: HTTPException):
    body = {"code": exc.code, "status": exc.name, "message": exc.description}
    # flask-smorest/webargs attach per-field validation messages here.
    messages = getattr(exc, "data", {}).get("messages") if hasattr(exc, "data") else None
    if messages:
        body["errors"] = messages
    extra = getattr(exc, "data", {}).get("extra") if hasattr(exc, "data") else None
    if extra:
        body.update(extra)
    return jsonify(body), exc.code


def _unexpected_error(exc: Exception):
    log.exception("unhandled error")
    return _http_error(InternalServerError())


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
