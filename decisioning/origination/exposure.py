"""A customer's exposure on the platform's own books, read by `flows.submit` before deciding.

Bureau reports lag by weeks and never show what is in flight here, so underwriting also sees
what Chedaitong itself has open: the customer's other live applications and active loans
(count and amount), how many applications they filed recently, and whether the same vehicle
(VIN or dealer stock id) is already being financed. These are `source: platform_books`
features in the catalog (entity decision); rules in ``rules/underwriting.yaml`` read them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db import Application
from chedaitong.db.base import as_utc
from chedaitong.db.servicing import Loan
from decisioning.origination import state_machine as sm

#: states in which an application still commits (or may commit) the platform's money
OPEN = (sm.SUBMITTED, sm.APPROVED, sm.REFERRED, sm.PLAN_CHOSEN, sm.CONTRACT_CREATED,
        sm.CONTRACT_SIGNED, sm.LIVENESS_PASSED, sm.DISBURSEMENT_REVIEW, sm.DISBURSED,
        sm.PICKED_UP, sm.DOCUMENTS_COMPLETE)
#: states that no longer count: refused, replaced by a re-application, or never submitted
CLOSED = (sm.DRAFT, sm.DECLINED, sm.REJECTED, sm.SUPERSEDED)
WINDOWS = (30, 90, 180)


def features(*, session: Session, application: Application,
             as_of: datetime | None = None) -> dict[str, Any]:
    """The exposure and velocity features of ``application`` (others only, never itself)."""
    as_of = as_of or datetime.now(UTC)
    others = select(Application).where(Application.customer_id == application.customer_id,
                                       Application.id != application.id)
    rows = list(session.scalars(others))
    loans = list(session.scalars(select(Loan).where(
        Loan.customer_id == application.customer_id, Loan.status == "active")))
    booked_apps = {loan.application_id for loan in loans}
    open_apps = [a for a in rows if a.state in OPEN and a.id not in booked_apps]
    exposure = sum((Decimal(a.loan_amount) for a in open_apps), Decimal("0"))
    exposure += sum((Decimal(loan.principal) for loan in loans), Decimal("0"))
    out: dict[str, Any] = {
        "platform_open_applications": len(open_apps),
        "platform_active_loans": len(loans),
        "platform_exposure_amount": float(exposure),
        "platform_exposure_with_this": float(exposure + Decimal(application.loan_amount)),
    }
    counted = [a for a in rows if a.state not in (sm.SUPERSEDED, sm.DRAFT)]
    for days in WINDOWS:
        since = as_of - timedelta(days=days)
        out[f"platform_applications_{days}d"] = sum(
            1 for a in counted if as_utc(a.submitted_at or a.created_at) >= since)
    out["vehicle_financed_elsewhere"] = same_vehicle(session=session, application=application)
    return out


def same_vehicle(*, session: Session, application: Application) -> int:
    """Other live applications or loans (any customer, any dealer) for the same VIN."""
    if not application.vin:
        return 0
    return session.scalar(select(func.count()).select_from(Application).where(
        Application.vin == application.vin, Application.id != application.id,
        Application.state.not_in(CLOSED))) or 0
