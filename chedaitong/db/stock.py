"""A dealer's stock: the vehicles a partner dealer offers, at its list price.

Re-apply guidance may suggest "a cheaper car within the dealer's stock" only from here — a
vehicle the dealer actually sells, not one it merely happened to file an application for.
Dealer staff (an admin on their behalf) keep it; `active` = currently offered.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chedaitong.db.base import Base, TimestampMixin, utcnow


class DealerVehicle(TimestampMixin, Base):
    """One vehicle (brand and model) a dealer offers and its list price (exact cents)."""

    __tablename__ = "dealer_vehicles"
    __table_args__ = (UniqueConstraint("dealer_id", "vehicle_brand", "vehicle_model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"), index=True)
    vehicle_brand: Mapped[str] = mapped_column(String(64))
    vehicle_model: Mapped[str] = mapped_column(String(64))
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
