"""Loan servicing tables: loans, schedules, repayments, penalty accruals, post-loan runs.

Money is NUMERIC(14, 2) (exact cents), rates NUMERIC(9, 6). The unique keys carry the
correctness guarantees of the nightly job: a penalty day is stored once per (loan, installment,
date), an action once per (loan, as_of, action), a bank line once per (source, external_ref),
and `loans.last_closed_date` moves in the same transaction as the rows of that day, so a
crashed run resumes exactly where it stopped.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from chedaitong.db.base import Base, TimestampMixin, utcnow

Money = Numeric(14, 2)
Rate = Numeric(9, 6)


class Loan(TimestampMixin, Base):
    """A booked loan; `last_closed_date` is the last business day the nightly job closed.

    The night updates every active loan's close marker in place: no index reads the columns
    it changes (the planner's index is the active ids only), and on PostgreSQL the table has
    fillfactor 50 (migration 0018; table storage options are not model metadata), so those
    updates are HOT. History rows (`DelinquencySnapshot`, `BehaviourScore`) carry no foreign
    key; the ``loans_keep_history`` trigger refuses deleting or renumbering a loan with any."""

    __tablename__ = "loans"
    __table_args__ = (Index("ix_loans_active_id", "id", postgresql_where=text("status = 'active'"),
                            sqlite_where=text("status = 'active'")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[str | None] = mapped_column(String(64))
    principal: Mapped[Decimal] = mapped_column(Money)
    annual_rate: Mapped[Decimal] = mapped_column(Rate)
    term_months: Mapped[int]
    repayment_method: Mapped[str] = mapped_column(String(24))
    penalty_multiplier: Mapped[Decimal] = mapped_column(Numeric(6, 3), default=Decimal("1.5"))
    penalty_grace_days: Mapped[int] = mapped_column(default=0)
    penalty_include_interest: Mapped[bool] = mapped_column(default=True)
    penalty_day_basis: Mapped[int] = mapped_column(default=360)
    disbursed_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | closed
    last_closed_date: Mapped[date] = mapped_column(Date)
    accrued_through: Mapped[date] = mapped_column(Date)  # penalty accrued through this day
    closed_on: Mapped[date | None] = mapped_column(Date)
    unapplied: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))


class ScheduledInstallment(Base):
    """One schedule line and what has been paid and charged on it so far."""

    __tablename__ = "loan_installments"
    __table_args__ = (UniqueConstraint("loan_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    number: Mapped[int]
    period_start: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    principal_due: Mapped[Decimal] = mapped_column(Money)
    interest_due: Mapped[Decimal] = mapped_column(Money)
    principal_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    interest_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    penalty_charged: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    penalty_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    penalty_through: Mapped[date | None] = mapped_column(Date)
    settled_on: Mapped[date | None] = mapped_column(Date)  # principal + interest paid in full


class LoanRepayment(TimestampMixin, Base):
    """A received payment and how it was allocated; (source, external_ref) makes imports
    idempotent."""

    __tablename__ = "loan_repayments"
    __table_args__ = (UniqueConstraint("source", "external_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    external_ref: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_on: Mapped[date] = mapped_column(Date)
    unapplied: Mapped[Decimal] = mapped_column(Money)
    allocation: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class PenaltyAccrual(Base):
    """One day of 罚息 on one installment: the unique key means a day is never charged twice."""

    __tablename__ = "penalty_accruals"
    __table_args__ = (UniqueConstraint("loan_id", "installment_no", "accrual_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    installment_no: Mapped[int]
    accrual_date: Mapped[date] = mapped_column(Date)
    base: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)


class DelinquencySnapshot(Base):
    """Days past due and bucket of a loan at the close of a business day."""

    __tablename__ = "delinquency_history"
    __table_args__ = (UniqueConstraint("loan_id", "as_of"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # no foreign key (its check was half of each nightly COPY): `Loan`'s trigger keeps it true
    loan_id: Mapped[int]
    as_of: Mapped[date] = mapped_column(Date, index=True)
    dpd: Mapped[int]
    bucket: Mapped[str] = mapped_column(String(8))
    model_score: Mapped[int | None]
    model_pd: Mapped[float | None]


class PostloanRun(Base):
    """One nightly inspection per business day; its report is written when it finishes."""

    __tablename__ = "postloan_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(16))  # running | finished | failed
    engine: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class PostloanAction(TimestampMixin, Base):
    """An action decided by the post-loan rules; the unique key means a re-run sends nothing
    twice, and `status` tracks the vendor send (pending → sent | failed | recorded)."""

    __tablename__ = "postloan_actions"
    __table_args__ = (UniqueConstraint("loan_id", "as_of", "action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    as_of: Mapped[date] = mapped_column(Date, index=True)
    action: Mapped[str] = mapped_column(String(32))
    rule_ids: Mapped[list[str]] = mapped_column(JSON)
    dpd: Mapped[int]
    bucket: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    vendor_ref: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(255))
