"""Declarative base shared by every table.

Constraint names follow one convention so Alembic migrations name the same constraint the
same way on SQLite and PostgreSQL (and can drop it again on downgrade).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: the largest id the integer key columns hold on every database (PostgreSQL's INTEGER):
#: a larger one from a client is "not found", never sent to the driver (which overflows)
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """Timezone-aware now; every stored timestamp is UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A stored time as UTC-aware: SQLite hands naive values back, and every stored time is UTC.

    The one helper for times that did not come through `UtcDateTime` (objects not yet flushed,
    rows read by hand); an aware value is returned unchanged, whatever its zone."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class UtcDateTime(TypeDecorator):
    """A timestamp that comes back timezone-aware on every backend: SQLite keeps no offset, so
    its naive values (all written as UTC) are given UTC on reading — the API then sends every
    timestamp with its offset, and comparisons with `utcnow()` never mix naive and aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value, dialect):
        return as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
