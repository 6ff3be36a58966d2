"""Loan applications and the decisions taken on them.

Money columns are NUMERIC(14, 2) (exact cents, `Decimal` in Python). A decision record keeps
everything needed to explain and replay it: the versions that decided, the feature values
they saw, the rules that fired, the model's score and reasons, the offers and the timings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from chedaitong.db.base import Base, TimestampMixin

Money = Numeric(14, 2)


class Application(TimestampMixin, Base):
    """A loan application filed by a sales consultant for a customer."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    #: None until the customer, signed in with a verified identity, grants the consent that
    #: binds the application to them (`decisioning.origination.consent`)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    #: blind index and mask of the ID number the consultant filed it under
    id_number_index: Mapped[str | None] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(24))
    #: dealer-entered vehicle identity (VIN or the dealer's stock id): exposure checks
    vin: Mapped[str | None] = mapped_column(String(32), index=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"), index=True)
    consultant_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    vehicle_brand: Mapped[str] = mapped_column(String(64))
    vehicle_model: Mapped[str] = mapped_column(String(64))
    vehicle_price: Mapped[Decimal] = mapped_column(Money)
    lease_type: Mapped[str] = mapped_column(String(16))
    down_payment: Mapped[Decimal] = mapped_column(Money)  # the deposit for a direct lease
    loan_amount: Mapped[Decimal] = mapped_column(Money)
    term_months: Mapped[int]
    state: Mapped[str] = mapped_column(String(24), default="draft", index=True)
    submitted_at: Mapped[datetime | None]
    #: how many times a worker started deciding this submission (counted before each try,
    #: in its own commit, so a worker that dies mid-decision still counts): past a limit the
    #: application is referred to a person instead of being retried forever
    decision_attempts: Mapped[int] = mapped_column(default=0, server_default="0")


class DecisionRecord(Base):
    """One machine decision, immutable once written; re-running it must give the same answer."""

    __tablename__ = "decision_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    # unique: one decision per submission, whichever worker (or retry) gets there first
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True,
                                                unique=True)
    decided_at: Mapped[datetime]
    as_of: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))  # approve | decline | refer
    rules_version: Mapped[str] = mapped_column(String(255))
    model_version: Mapped[str | None] = mapped_column(String(32))
    challenger_version: Mapped[str | None] = mapped_column(String(32))
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    fired_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    challenger: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    offers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    evidence_gaps: Mapped[list[str]] = mapped_column(JSON)
    #: the credit-inquiry consent the bureau pulls were made under (None: no pull allowed)
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("credit_consents.id"))
    timings_ms: Mapped[dict[str, float]] = mapped_column(JSON)
    guidance: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # re-apply options (#22)
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # champion/challenger arm
