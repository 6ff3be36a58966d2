"""Standard security headers on every response, and a `Server` header without versions.

API JSON carries personal data (masked, but still a customer's): never cached by a browser or
a proxy (``Cache-Control: no-store``), never sniffed into something executable (``nosniff``), and
never framed. The development server otherwise announces "Werkzeug/x Python/y".
"""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.serving import WSGIRequestHandler

SERVER_NAME = "chedaitong"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
JSON_ONLY = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def _headers(response: Response) -> Response:
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if response.is_json:
        for name, value in JSON_ONLY.items():
            response.headers[name] = value
    return response


class RequestHandler(WSGIRequestHandler):
    """The development server's handler, naming itself without versions."""

    def version_string(self) -> str:
        return SERVER_NAME


def init_app(app: Flask) -> None:
    app.after_request(_headers)
