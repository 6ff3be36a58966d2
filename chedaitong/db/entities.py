"""Organisation tables: dealers (4S stores) and the people who use the platform."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chedaitong.db.base import Base, TimestampMixin


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    CONSULTANT = "consultant"  # sales consultant of one dealer (finance specialist merged in)
    REVIEWER = "reviewer"  # back-office disbursement reviewer
    ANALYST = "analyst"  # risk team: rules and models
    COLLECTOR = "collector"
    ADMIN = "admin"
    PAYMENT_CHANNEL = "payment_channel"  # a payment channel's server posting repayments
    VEHICLE_TRACKER = "vehicle_tracker"  # a GPS-tracker vendor's server posting positions


class Dealer(TimestampMixin, Base):
    """A partner 4S dealership (merchant) that files applications."""

    __tablename__ = "dealers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(64))
    province: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32), default="4s_store")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    active: Mapped[bool] = mapped_column(default=True)

    staff: Mapped[list[User]] = relationship(back_populates="dealer")


class User(TimestampMixin, Base):
    """Anyone who signs in: customers, consultants and platform staff."""

    __tablename__ = "users"
    __table_args__ = (
        # A consultant works for exactly one dealer; nobody else belongs to a dealer.
        CheckConstraint(
            "(role = 'consultant') = (dealer_id IS NOT NULL)", name="consultant_has_dealer"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
        )
    )
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealers.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    #: the admin who created this account in the app; None for accounts made from the command
    #: line and self-registered customers
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: ``pending`` for a staff account an admin created in the app, until another admin
    #: activates (``activated``) or rejects (``rejected``) it; None: no activation needed
    activation: Mapped[str | None] = mapped_column(String(16))
    #: the second admin who activated it (and was handed its first token)
    activated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    dealer: Mapped[Dealer | None] = relationship(back_populates="staff")
