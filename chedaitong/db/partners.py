"""Tables of the parts of the story around an application: dealer agreements, the admin audit
trail, dealer payouts, profile history, ID-card images and the collector's contact log.

Secrets follow the house rule: a dealer's bank account and a customer's previous profile are
AES-GCM ciphertext (`chedaitong.crypto`) with a masked copy for display; ID-card images live on
disk encrypted, and only their digest is here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from chedaitong.db.base import Base, TimestampMixin, utcnow


class DealerAgreement(TimestampMixin, Base):
    """The partnership agreement of one dealer and the account its payouts go to.

    Whether the dealer may file is `Dealer.active` (active / suspended) *and* today lying within
    the agreement's effective dates. The account columns hold the *approved* account only (four
    eyes: `DealerAccountChange`); they are empty until a second admin approves the first one,
    and no payout leaves without them.
    """

    __tablename__ = "dealer_agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"), unique=True)
    agreement_ref: Mapped[str] = mapped_column(String(64), unique=True)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    bank_name: Mapped[str | None] = mapped_column(String(100))
    account_name: Mapped[str | None] = mapped_column(String(200))
    account_masked: Mapped[str | None] = mapped_column(String(32))
    account_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


PENDING_CHANGE = text("status = 'pending'")


class DealerAccountChange(Base):
    """A requested payout account of one dealer (its first, or a change): pending until an
    admin other than the requester approves it (then copied into the agreement) or rejects it.
    At most one pending per dealer (the partial unique index), so a checker approves exactly
    what they looked at. The number is AES-GCM ciphertext with a masked copy, as in the
    agreement."""

    __tablename__ = "dealer_account_changes"
    __table_args__ = (
        Index("uq_dealer_account_changes_pending", "dealer_id", unique=True,
              sqlite_where=PENDING_CHANGE, postgresql_where=PENDING_CHANGE),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # first | change
    bank_name: Mapped[str] = mapped_column(String(100))
    account_name: Mapped[str] = mapped_column(String(200))
    account_masked: Mapped[str] = mapped_column(String(32))
    account_enc: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # | approved | rejected
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(String(500), default="")


class AuditEvent(Base):
    """One administrative change: who did what to which record, with the fields changed."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(48))
    target_kind: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[int] = mapped_column(index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DealerPayout(TimestampMixin, Base):
    """The transfer of the loan amount to the dealer after the voucher guaranteed it.

    One per application (unique): approving twice, or exporting twice, cannot pay twice.
    pending → exported (in a bank file) → paid | failed; a failed one can be re-queued
    (pending again, `attempts` + 1) and never touches the voucher.
    """

    __tablename__ = "dealer_payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"))
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    value_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=1)
    batch_ref: Mapped[str | None] = mapped_column(String(32))
    bank_ref: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    settled_at: Mapped[datetime | None]


class ProfileChange(Base):
    """One update of a customer's personal information: the field names in the clear, the
    values before the change encrypted (history without exposing PII to staff)."""

    __tablename__ = "profile_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    fields: Mapped[list[str]] = mapped_column(JSON)
    previous_enc: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class IdCardImage(Base):
    """A photo of one side of the customer's ID card; the bytes are encrypted on disk under
    `stored_sha256` (the digest of the ciphertext), `sha256` is the digest of the image."""

    __tablename__ = "id_card_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    side: Mapped[str] = mapped_column(String(8))  # front | back
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    stored_sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CollectionContact(Base):
    """One attempt by collections to reach a borrower, and what came of it."""

    __tablename__ = "collection_contacts"
    __table_args__ = (UniqueConstraint("vendor_ref", name="uq_collection_contacts_vendor_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16))  # call | outbound_call
    outcome: Mapped[str] = mapped_column(String(16))
    promise_date: Mapped[date | None] = mapped_column(Date)
    promise_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    note: Mapped[str] = mapped_column(String(500), default="")
    vendor_ref: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
