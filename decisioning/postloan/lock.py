"""An exclusive job lock in the database (works on SQLite and PostgreSQL, across hosts).

A row in `job_locks` exists while a run holds the lock; its primary key makes a second insert
fail. A holder killed with -9 leaves its row behind, so a lock is taken over when its holder is
provably gone (same host, pid no longer alive) or its heartbeat is older than `stale_after`.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.db.base import utcnow
from chedaitong.db.servicing import JobLock

STALE_AFTER = timedelta(hours=2)


class LockHeld(RuntimeError):
    """Another run holds the lock (the CLI exits 75, EX_TEMPFAIL)."""


def this_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # cannot tell for another host: trust the heartbeat
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire(engine: Engine, name: str, holder: str | None = None,
            stale_after: timedelta = STALE_AFTER) -> str:
    holder = holder or this_holder()
    with Session(engine) as session:
        session.add(JobLock(name=name, holder=holder))
        try:
            session.commit()
            return holder
        except IntegrityError:
            session.rollback()
        current = session.get(JobLock, name)
        if current is None:  # released in between: try once more
            return acquire(engine, name, holder, stale_after)
        if current.holder == holder:  # re-entrant for the same holder
            return holder
        beat = current.heartbeat_at
        if beat.tzinfo is None:  # SQLite returns naive UTC
            beat = beat.replace(tzinfo=utcnow().tzinfo)
        if _alive(current.holder) and utcnow() - beat < stale_after:
            raise LockHeld(f"lock {name!r} held by {current.holder} since {current.acquired_at}")
        taken = session.execute(
            update(JobLock)
            .where(JobLock.name == name, JobLock.holder == current.holder)
            .values(holder=holder, acquired_at=utcnow(), heartbeat_at=utcnow())
        )
        session.commit()
        if taken.rowcount != 1:
            raise LockHeld(f"lock {name!r} was taken over by another run")
        return holder


def heartbeat(session: Session, name: str, holder: str) -> None:
    """Refresh in the caller's transaction; raises if the lock was taken from us."""
    done = session.execute(
        update(JobLock).where(JobLock.name == name, JobLock.holder == holder)
        .values(heartbeat_at=utcnow())
    )
    if done.rowcount != 1:
        raise LockHeld(f"lock {name!r} is no longer ours")


def release(engine: Engine, name: str, holder: str) -> None:
    with Session(engine) as session:
        session.execute(delete(JobLock).where(JobLock.name == name, JobLock.holder == holder))
        session.commit()


def holder_of(engine: Engine, name: str) -> str | None:
    with Session(engine) as session:
        return session.scalar(select(JobLock.holder).where(JobLock.name == name))
