"""Swagger UI for ``/docs`` from the pinned ``swagger-ui-bundle`` package, served by the app
itself: the page renders without internet access and its version moves only with setup.cfg."""

from __future__ import annotations

from flask import Blueprint
from swagger_ui_bundle import swagger_ui_path

ASSETS_URL = "/docs/assets/"

bp = Blueprint("swagger_ui", __name__, static_folder=str(swagger_ui_path),
               static_url_path=ASSETS_URL.rstrip("/"))

# flask-smorest settings: its /docs page loads swagger-ui.css and the two scripts from here;
# validatorUrl None keeps Swagger UI from sending the spec to the public online validator.
SETTINGS = {
    "OPENAPI_SWAGGER_UI_URL": ASSETS_URL,
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
}
