"""One engine per app, one session per request (closed at teardown)."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from chedaitong.config import Settings
from chedaitong.db import make_engine, make_session_factory

EXTENSION = "chedaitong.db"


def init_app(app: Flask, settings: Settings) -> None:
    # no pre-ping round trip per request: a cut connection is answered 503 (webapp.errors)
    engine = make_engine(settings.database_url, pool_pre_ping=False)
    app.extensions[EXTENSION] = {"engine": engine, "sessions": make_session_factory(engine)}
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions[EXTENSION]["engine"]


def session() -> Session:
    """The request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions[EXTENSION]["sessions"]()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
