"""The outbox: vendor side effects (an SMS, an e-sign request) written in the same transaction
as the state change that causes them, delivered afterwards by a worker with retries.

So a vendor outage delays a message, never a decision or a response, and a step that rolled
back sends nothing. Each row carries the idempotency key the vendor call uses, so a delivery
retried after a crash (sent, but not yet marked) is not sent twice by the vendor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from chedaitong.db.base import Base, utcnow

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


class OutboxMessage(Base):
    """One vendor send to make: ``kind`` names the deliverer, ``payload`` its arguments."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # e.g. sms.decision
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
