"""Engines and sessions: one place that knows how to talk to SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

#: seconds a pooled PostgreSQL connection is reused before it is replaced
RECYCLE_S = 1800


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
    # No pre-ping (a round trip on every checkout, i.e. every request): connections are
    # recycled before any idle timeout between us and the server would cut them, and one
    # that is cut anyway (a server restart, a failover) fails its request, which the web
    # layer answers 503 Retry-After: 1 — SQLAlchemy then invalidates the whole pool, so
    # the retry gets a fresh connection (webapp.errors).
    kwargs.setdefault("pool_recycle", RECYCLE_S)
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
