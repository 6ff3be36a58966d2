"""Origination workflow tables: API tokens, idempotency keys, the state history of each
application, verifications, reviews, plan choices, contracts, vouchers, documents, notices.

Secrets are never stored in the clear: a token is kept as its SHA-256, uploaded files live on
disk (outside the database) under their content hash, and nothing here holds raw device data
or a full identifier.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from chedaitong.db.base import Base, as_utc, utcnow

EFFECTIVE_CONSENT = text("revoked_at IS NULL AND superseded_at IS NULL")
#: the consent purpose the nightly bureau refresh needs (recorded when the contract is signed)
POST_LOAN_MONITORING = "post_loan_monitoring"


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a database leak does not leak sessions."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # None: issued before tokens expired (kept working)
    last_used_at: Mapped[datetime | None]  # updated at most once a minute


class PageSession(Base):
    """A back-office page session. The signed cookie names it, so signing out ends it here,
    on the server: a copy of the cookie taken before stops working too."""

    __tablename__ = "page_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class IdempotencyRecord(Base):
    """The first response to a creating POST, replayed when the same key comes again.

    The row is inserted (the key reserved) before the work starts; ``status_code`` stays None
    until the first answer is known, so a concurrent duplicate waits for it instead of working.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "endpoint", "key",
                                       name="uq_idempotency_keys_user_endpoint_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    endpoint: Mapped[str] = mapped_column(String(128), server_default="")
    key: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_json: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]


class StateTransition(Base):
    """One step of an application's life: who moved it from which state to which, and why."""

    __tablename__ = "application_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Verification(Base):
    """A customer check (ID card, four elements, liveness) or consent (credit authorisation)."""

    __tablename__ = "verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    kind: Mapped[str] = mapped_column(String(32))
    passed: Mapped[bool]
    score: Mapped[float | None]
    vendor_request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """A back-office decision: a referred application (credit) or a disbursement review."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # credit | disbursement
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(16))  # approve | reject
    notes: Mapped[str] = mapped_column(Text, default="")
    offer: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a manual plan, when set
    at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanChoice(Base):
    """The offer the customer accepted (a copy: the decision record stays immutable)."""

    __tablename__ = "plan_choices"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    offer: Mapped[dict[str, Any]] = mapped_column(JSON)
    chosen_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    chosen_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoanContract(Base):
    """The e-signed loan contract; the text is what was sent to the e-signature vendor."""

    __tablename__ = "loan_contracts"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    #: None until the outbox delivery created it at the vendor (status ``sending``)
    vendor_contract_id: Mapped[str | None] = mapped_column(String(64))
    document_text: Mapped[str] = mapped_column(Text)
    document_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    signed_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_at: Mapped[datetime | None]


class Voucher(Base):
    """The disbursement voucher: the platform's guarantee that lets the dealer hand over the car.

    One per application (unique), so two reviewers approving at once cannot issue two.
    """

    __tablename__ = "vouchers"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    verification_code: Mapped[str] = mapped_column(String(16))
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    issued_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    document_text: Mapped[str] = mapped_column(Text)


class StoredDocument(Base):
    """An uploaded file: its bytes are on disk under their SHA-256, never in the database."""

    __tablename__ = "stored_documents"
    __table_args__ = (
        UniqueConstraint("application_id", "kind", name="uq_stored_documents_application_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    mailing_status: Mapped[str] = mapped_column(String(16), default="not_required")
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """An SMS sent (or attempted) through the SMS vendor; failures are kept, not raised."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(8), default="sms")
    template: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # accepted | failed | skipped
    vendor_message_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditConsent(Base):
    """A customer's credit-inquiry authorisation for one application, granted with their own
    token: what for (purpose, bureaus), which text they agreed to and the hash of the signed
    document, and how long it holds. A bureau is queried only under a live one.

    One *effective* consent per application and purpose (the partial unique index, so six
    concurrent grants store one): a revoked one, or one ``superseded_at`` by a new grant (an
    expired one, or one for other bureaus or text), no longer counts."""

    __tablename__ = "credit_consents"
    __table_args__ = (
        Index("uq_credit_consents_effective", "application_id", "purpose", unique=True,
              sqlite_where=EFFECTIVE_CONSENT, postgresql_where=EFFECTIVE_CONSENT),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    granted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    bureaus: Mapped[list[str]] = mapped_column(JSON)
    text_version: Mapped[str] = mapped_column(String(32))
    document_sha256: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    superseded_at: Mapped[datetime | None]

    def live_at(self, at: datetime) -> bool:
        """Neither revoked nor superseded, and unexpired at ``at``."""
        return (self.revoked_at is None and self.superseded_at is None
                and as_utc(self.expires_at) > as_utc(at))

    def covers(self, bureau: str, at: datetime) -> bool:
        """Live at ``at`` and naming ``bureau``: what a query of that bureau needs."""
        return self.live_at(at) and bureau in (self.bureaus or [])


class IdentityEvent(Base):
    """The audit trail of ID-number claims: claimed (pending), verified, displaced (a pending
    claim pushed aside by the verified owner), refused."""

    __tablename__ = "identity_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    event: Mapped[str] = mapped_column(String(16))
    by_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    note: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
