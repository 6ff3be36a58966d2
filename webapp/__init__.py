"""Thin Flask API over the decision service: `create_app` is the application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_smorest import Api

from chedaitong import __version__
from chedaitong.config import Settings
from webapp import database, errors, health


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the app from `Settings` (default: from the environment, validated).

    A mapping is taken as overrides of environment settings (e.g. ``{"database_url": …}`` in
    tests). Raises `chedaitong.config.ConfigError` with one sentence when a setting is invalid.
    """
    settings = config if isinstance(config, Settings) else Settings.from_env(**dict(config or {}))
    app = Flask(__name__)
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
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
    )
    database.init_app(app, settings)
    api = Api(app)
    errors.init_app(app)  # after Api: ours replace flask-smorest's handlers
    api.register_blueprint(health.blp)
    return app
