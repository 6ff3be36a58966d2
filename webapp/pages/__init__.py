"""Server-rendered back-office and analyst pages (Flask + Jinja, no JS build).

Separate from the JSON API: a signed session cookie instead of a bearer header, HTML errors
instead of JSON, and CSRF tokens on every form. Views call the same flow functions as the API.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__, url_prefix="/pages")

# Views register themselves on `bp` when imported.
from webapp.pages import (  # noqa: E402, F401
    challenger_view,
    errors,
    login,
    models_view,
    partners_view,
    postloan_view,
    reviews,
    rules_view,
    segments_view,
    vouchers,
)
