"""Customers and the feature store's tables.

Personal identifiers and raw device payloads are stored only as AES-GCM ciphertext
(`chedaitong.crypto`); look-ups go through keyed blind indexes and staff see masked values.
What feature computation reads is `feature_facts`: one sanitised row per event (a keyword
category, a flag, a distance in km) that carries no SMS text, phone number or coordinate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from chedaitong.db.base import Base, TimestampMixin


class Customer(TimestampMixin, Base):
    """A borrower. `pii_enc` holds name, ID number, phone, birth date and addresses.

    `identity_status`: a profile typed into the user app claims its ID number only once the
    ID-card check and liveness confirm it (``pending`` → ``verified``); a pending claim does
    not block the real owner and is ``displaced`` when they verify. Only one *verified*
    customer per ID number (a partial unique index). Rows loaded from the platform's own
    books (the world loader, migrations) are verified.
    """

    __tablename__ = "customers"
    __table_args__ = (
        Index("uq_customers_verified_id_number", "id_number_index", unique=True,
              postgresql_where=text("identity_status = 'verified'"),
              sqlite_where=text("identity_status = 'verified'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    id_number_index: Mapped[str] = mapped_column(String(64), index=True)
    identity_status: Mapped[str] = mapped_column(String(16), default="verified",
                                                 server_default="verified")
    id_number_masked: Mapped[str] = mapped_column(String(24))
    phone_masked: Mapped[str | None] = mapped_column(String(24))
    pii_enc: Mapped[bytes] = mapped_column(LargeBinary)


class RawEvent(Base):
    """One uploaded raw record (SMS, contact, GPS ping, photo, vendor report), encrypted.

    `dedupe_key` is a keyed digest of the canonical payload: the same upload sent twice is
    stored once.
    """

    __tablename__ = "raw_events"
    __table_args__ = (UniqueConstraint("customer_id", "source", "dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    event_time: Mapped[datetime]
    uploaded_at: Mapped[datetime]
    dedupe_key: Mapped[str] = mapped_column(String(64))
    payload_enc: Mapped[bytes] = mapped_column(LargeBinary)


class FeatureFact(Base):
    """A sanitised per-event fact derived at ingest; the input of every feature."""

    __tablename__ = "feature_facts"
    __table_args__ = (Index("ix_feature_facts_customer_source", "customer_id", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    raw_event_id: Mapped[int | None] = mapped_column(ForeignKey("raw_events.id"))
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    event_time: Mapped[datetime]
    uploaded_at: Mapped[datetime]
    value: Mapped[float | None]
    key: Mapped[str | None] = mapped_column(String(64))


class FeatureVector(Base):
    """The latest materialised feature vector of one entity: what online serving reads."""

    __tablename__ = "feature_vectors"
    __table_args__ = (UniqueConstraint("entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[datetime]
    computed_at: Mapped[datetime]
    catalog_version: Mapped[str] = mapped_column(String(16))
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
