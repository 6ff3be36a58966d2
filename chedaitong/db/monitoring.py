"""The daily segment monitoring job's runs: one per as-of date, metrics and alerts as JSON
(the page draws trends from consecutive runs)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from chedaitong.db.base import Base, utcnow


class SegmentMonitorRun(Base):
    __tablename__ = "segment_monitor_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(16))  # running | finished | failed
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    alerts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
