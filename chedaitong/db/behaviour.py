"""The behaviour score of each active loan per night (history kept: one row per loan per
business day), written by the nightly post-loan inspection in the same transaction as the
loan's day close."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chedaitong.db.base import Base


class BehaviourScore(Base):
    """One loan's behaviour score at the close of `as_of`: the behaviour champion's version,
    calibrated PD (reaching 60+ DPD within 6 months), points, grade, the features that raised
    the PD most, and expected loss = PD × exposure (outstanding principal) for queue order."""

    __tablename__ = "behaviour_scores"
    __table_args__ = (UniqueConstraint("loan_id", "as_of"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # no foreign key: see `chedaitong.db.servicing.Loan` (the loans_keep_history trigger)
    loan_id: Mapped[int]
    as_of: Mapped[date] = mapped_column(Date, index=True)
    model_version: Mapped[str] = mapped_column(String(32))
    pd: Mapped[float]
    score: Mapped[int]
    grade: Mapped[str] = mapped_column(String(1))
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    exposure: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    expected_loss: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    # the champion/challenger arm that scored this row (`decisioning.routing`, purpose
    # "behaviour"); None before routing of the behaviour purpose existed
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON)


