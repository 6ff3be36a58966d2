"""Collection cases: a loan handed to an outsourced agency is a *state*, tracked here.

The nightly job opens a case once (a loan with an open case is not handed over again), pushes
the new overdue balance and DPD to the agency while it stays open, and closes it when the loan
is cured (nothing overdue) or settled; a case the agency closes itself (recovered, returned) is
found by polling its status, a bounded number of cases a night, least recently polled first.
At most one open case per loan: a partial unique index.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from chedaitong.db.base import Base, TimestampMixin


class CollectionCaseRow(TimestampMixin, Base):
    """One hand-over of one loan to an agency, from opening to cure or settlement."""

    __tablename__ = "collection_cases"
    __table_args__ = (
        Index("uq_collection_cases_open_loan", "loan_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    case_ref: Mapped[str] = mapped_column(String(64))  # the agency's case id
    agency: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    opened_on: Mapped[date] = mapped_column(Date)
    reconciled: Mapped[bool] = mapped_column(default=False)  # found open at the agency (409)
    dpd: Mapped[int]  # the figures the agency last received
    overdue_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    synced_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    # cured | settled (we withdrew it) | recovered | returned | withdrawn (the agency closed it)
    close_reason: Mapped[str | None] = mapped_column(String(16))
    sync_error: Mapped[str | None] = mapped_column(String(255))  # last failed update/withdraw
    polled_on: Mapped[date | None] = mapped_column(Date)  # last asked the agency its status
