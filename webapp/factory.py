"""The application factory: `create_app` builds the Flask app (routes, schemas, pages) over the
domain services. Import it as ``from webapp import create_app``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from chedaitong import __version__
from chedaitong.config import Settings
from chedaitong.db.base import MAX_ID
from webapp import (
    apidocs,
    applications,
    auth,
    backoffice,
    collections,
    customers,
    database,
    dealers,
    errors,
    health,
    ingest,
    limits,
    longpoll,
    openapi,
    parsing,
    profile,
    security,
    services,
    tokens,
)
from webapp.pages import bp as pages_bp


class IdConverter(IntegerConverter):
    """``<int:…>`` path ids within the databases' integer range: a larger one is 404, not an
    overflow in the driver."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the app from `Settings` (default: from the environment, validated).

    A mapping is taken as overrides of environment settings (e.g. ``{"database_url": …}`` in
    tests). Raises `chedaitong.config.ConfigError` with one sentence when a setting is invalid.
    """
    settings = config if isinstance(config, Settings) else Settings.from_env(**dict(config or {}))
    app = Flask("webapp")  # the package: its templates/, static/ and logger name
    app.url_map.converters["int"] = IdConverter
    app.config.update(
        SECRET_KEY=settings.secret_key,
        CHEDAITONG=settings,
        TESTING=settings.env == "test",
        API_TITLE="Chedaitong API",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        **apidocs.SETTINGS,
        # the back-office pages sign in with a cookie: keep it from scripts and other sites
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        SESSION_COOKIE_NAME="cdt_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
    )
    database.init_app(app, settings)
    auth.init_app(app, settings)
    services.init_app(app, settings)
    longpoll.init_app(app)
    app.config["MAX_CONTENT_LENGTH"] = 12 * 1024 * 1024  # uploads: 10 MB + form overhead
    api = openapi.ChedaitongApi(app)
    api.ma_plugin.converter.add_attribute_function(openapi.money_as_string)
    errors.init_app(app)  # after Api: ours replace flask-smorest's handlers
    parsing.init_app(app)  # strict JSON before any view
    security.init_app(app)  # headers on every response
    api.register_blueprint(health.blp)
    for blp in (customers.blp, applications.blp, backoffice.blp, tokens.blp, dealers.blp,
                profile.blp, collections.blp, ingest.blp):
        api.register_blueprint(blp)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer"})
    openapi.add_links(api)
    app.register_blueprint(pages_bp)  # HTML back-office pages, outside the OpenAPI spec
    app.register_blueprint(apidocs.bp)  # Swagger UI's own files for /docs
    limits.init_app(app, settings)  # after every route: it wraps the throttled views
    return app
