"""One run at a time, by a lock the operating system or the database releases for us.

PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) taken on a connection kept for
the whole run, outside the pool; it is released with that connection, so a process killed with
-9 (or a host that vanished) never leaves a lock behind and no PID or heartbeat is trusted.
The key is derived from the database, the schema and the lock name (two deployments in one
database do not block each other). SQLite: an OS file lock (`filelock`) next to the database
file, released by the kernel when the process ends.

Re-entrant within a process: acquiring a lock this process already holds returns it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text


class LockHeld(RuntimeError):
    """Another run holds the lock (the CLI exits 75, EX_TEMPFAIL)."""


class LockLost(RuntimeError):
    """The lock's connection is gone: stop writing, another run may start."""


def this_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Held:
    """A lock this process holds until `release` (or until the process ends)."""

    name: str
    key: str
    kind: str  # "advisory" | "file"
    holder: str = field(default_factory=this_holder)
    _conn: Connection | None = None
    _file: Any = None

    def check(self) -> None:
        """Raise `LockLost` when the lock can no longer be ours (its connection died)."""
        if self.kind == "advisory":
            try:
                assert self._conn is not None
                self._conn.execute(text("SELECT 1"))
            except Exception as exc:
                raise LockLost(f"lock {self.name!r}: its connection is gone ({exc})") from exc
        elif not self._file.is_locked:
            raise LockLost(f"lock {self.name!r} is no longer held")

    def release(self) -> None:
        _HELD.pop(self.key, None)
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                                   {"k": _advisory_key(self.key)})
            finally:
                self._conn.invalidate()  # never back to the pool holding a session lock
                self._conn.close()
                self._conn = None
        if self._file is not None:
            self._file.release(force=True)
            self._file = None


_HELD: dict[str, Held] = {}


def _advisory_key(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big",
                          signed=True)


def lock_path(engine: Engine, name: str) -> Path:
    """Where the SQLite file lock lives: beside the database (a temp dir for :memory:)."""
    db = engine.url.database
    if db and db != ":memory:":
        return Path(f"{db}.{name}.lock")
    return Path(tempfile.gettempdir()) / f"chedaitong-{name}.lock"


def acquire(engine: Engine, name: str, holder: str | None = None) -> Held:
    """Take the lock or raise `LockHeld` at once (a nightly job does not queue)."""
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            where = conn.execute(text("SELECT current_database(), current_schema()")).one()
            key = f"pg:{where[0]}:{where[1]}:{name}"
            if key in _HELD:
                conn.close()
                return _HELD[key]
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                               {"k": _advisory_key(key)}).scalar_one()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            raise LockHeld(f"lock {name!r} is held by another run on this database")
        held = Held(name, key, "advisory", holder or this_holder(), _conn=conn)
    else:
        from filelock import FileLock, Timeout

        path = lock_path(engine, name)
        key = f"file:{path.resolve()}"
        if key in _HELD:
            return _HELD[key]
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=0)
        except Timeout as exc:
            raise LockHeld(f"lock {name!r} is held by another run ({path})") from exc
        held = Held(name, key, "file", holder or this_holder(), _file=lock)
    _HELD[key] = held
    return held


def release(held: Held | None) -> None:
    if held is not None:
        held.release()


def check(name: str) -> None:
    """Raise `LockLost` if a lock of this name held by this process has lost its hold."""
    for held in list(_HELD.values()):
        if held.name == name:
            held.check()
