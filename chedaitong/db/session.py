"""Engines and sessions: one place that knows how to talk to SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

#: seconds a pooled PostgreSQL connection is reused before it is replaced: under the idle
#: cut of typical load balancers and NATs, so the pool never hands out a connection they cut
RECYCLE_S = 300


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; the message says where and why, in one line."""


def _private_file(path: Path) -> None:
    """The SQLite file holds personal data: readable by its owner only (0600), created so
    before SQLite creates it with the umask's permissions."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    elif path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o600)


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine; SQLite gets foreign keys on and a busy timeout for concurrent writers,
    and its file's folder is created (the default database lives under a fresh `var/`)."""
    # a failed statement's bound values (names, phone numbers, ciphertexts) never reach a log
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).parent
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                _private_file(Path(database))
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"cannot create {folder} for the SQLite database: {exc.strerror or exc}"
                ) from None
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        wal = bool(database) and database != ":memory:" and not database.startswith("file:")

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if wal:  # readers never wait for the writer (web threads, decision workers)
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # Connections are recycled before the idle cuts of typical load balancers and NATs
    # (350–900 s). Pre-ping (a round trip per checkout) stays on for the CLI, the nightly job
    # and the decision workers — a decision that met a dropped connection would count as a
    # failed attempt; the web app turns it off (`webapp.database`), because a request that
    # meets a cut connection is answered 503 and SQLAlchemy invalidates the pool for the retry.
    kwargs.setdefault("pool_recycle", RECYCLE_S)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def check_reachable(engine: Engine) -> None:
    """Raise `DatabaseUnavailable` unless a trivial query succeeds."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnavailable(
            f"cannot reach database {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from None
