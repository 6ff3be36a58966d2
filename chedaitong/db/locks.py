"""Holding one row for the rest of a transaction, the same way on PostgreSQL and SQLite.

PostgreSQL locks the row (``SELECT … FOR UPDATE``). SQLite has no row locks and ignores FOR
UPDATE: a no-op UPDATE of the row takes the database's one write lock instead, so a second
holder waits for the first's commit (the busy timeout) — coarser, but the same order of
events. Either way the hold ends with the transaction, and with the connection if the
process dies: nothing to clean up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's sqlstate for a NOWAIT lock somebody holds


class RowBusy(Exception):
    """``nowait`` and another transaction holds the row (PostgreSQL only)."""


def hold_row(session: Session, model: Any, row_id: int, *, nowait: bool = False) -> None:
    """Hold ``model``'s row ``row_id`` until ``session``'s transaction ends.

    ``nowait``: on PostgreSQL raise `RowBusy` at once (the session rolled back) instead of
    waiting for the holder; SQLite always waits."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(update(model).where(model.id == row_id).values(id=model.id)
                        .execution_options(synchronize_session=False))
        return
    try:
        session.execute(select(model.id).where(model.id == row_id)
                        .with_for_update(nowait=nowait))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        session.rollback()
        raise RowBusy(f"{model.__tablename__} {row_id}") from None
