"""Thin Flask API over the decision service: `create_app` is the application factory.

The factory lives in `webapp.factory`; this package imports nothing heavy itself, so a module
under it (the gunicorn config, say) loads Flask and the decision stack only when it needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from chedaitong.config import Settings


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """The Flask app built by :func:`webapp.factory.create_app` (settings from the environment
    when ``config`` is None; a mapping overrides them)."""
    from webapp.factory import create_app as build

    return build(config)


def run_dev_server(app: Flask, host: str, port: int) -> None:
    """Serve ``app`` with the development server, whose `Server` header names no versions."""
    from webapp.security import RequestHandler

    app.run(host=host, port=port, request_handler=RequestHandler)
