"""Refreshed bureau reports after booking (the seed's post-loan evidence), pulled nightly.

Before closing a day the job asks the PBOC adapter for a new report for active loans whose
newest report is older than `RefreshPolicy.max_age` (monthly by default) — only for customers
whose post-loan monitoring consent is on file (recorded when they sign the contract) — at most
`per_night` of them, stalest first, so a large book is refreshed over several nights instead
of flooding the bureau. Each query carries reason ``post_loan_management`` and an idempotency
key per (loan, night), so a rerun never records a second inquiry. The report is stored through
the feature store (encrypted raw, sanitised facts) stamped with the night's as-of time, which is
when tonight's features may first see it.

A vendor outage (or a person with no file) leaves a gap, counted in the run report: the night
goes on with the evidence it has, never fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from chedaitong.db import Customer, FeatureFact
from chedaitong.db.origination import CreditConsent
from chedaitong.db.servicing import Loan

log = logging.getLogger("chedaitong.postloan")


@dataclass(frozen=True)
class RefreshPolicy:
    max_age: timedelta = timedelta(days=30)
    per_night: int = 500


def night_time(as_of: date) -> datetime:
    """The as-of moment the night's features are computed at (00:00 UTC of `as_of`)."""
    return datetime.combine(as_of, time(0), tzinfo=UTC)


def due_for_refresh(session: Session, as_of: date, policy: RefreshPolicy) -> list[Loan]:
    """Active, consented loans whose newest PBOC report is older than the policy allows (or
    who have none), stalest first, at most `policy.per_night`."""
    now = night_time(as_of).replace(tzinfo=None)
    newest = (select(FeatureFact.customer_id, func.max(FeatureFact.uploaded_at).label("at"))
              .where(FeatureFact.source == "pboc", FeatureFact.uploaded_at <= now)
              .group_by(FeatureFact.customer_id).subquery())
    # the consent the customer gave at signing, for this loan's own application, still live
    consented = select(CreditConsent.application_id).where(
        CreditConsent.purpose == "post_loan_monitoring", CreditConsent.revoked_at.is_(None),
        CreditConsent.expires_at > now, CreditConsent.customer_id == Loan.customer_id)
    stmt = (select(Loan).outerjoin(newest, newest.c.customer_id == Loan.customer_id)
            .where(Loan.status == "active", Loan.disbursed_on < as_of,
                   Loan.application_id.in_(consented),
                   (newest.c.at.is_(None)) | (newest.c.at < now - policy.max_age))
            .order_by(newest.c.at.asc().nulls_first(), Loan.id).limit(policy.per_night))
    return list(session.scalars(stmt))


def consent_id(session: Session, loan: Loan) -> int | None:
    """The live post-loan monitoring consent the refresh is pulled under (cited to PBOC)."""
    return session.scalar(select(CreditConsent.id).where(
        CreditConsent.application_id == loan.application_id,
        CreditConsent.purpose == "post_loan_monitoring", CreditConsent.revoked_at.is_(None))
        .order_by(CreditConsent.id.desc()).limit(1))


def refresh(engine: Engine, as_of: date, *, vendors: Any, store: Any,
            policy: RefreshPolicy = RefreshPolicy()) -> dict[str, int]:
    """Pull tonight's refreshed reports; returns counts for the run report."""
    from vendors.errors import VendorError
    from vendors.interfaces import BureauQuery

    counts = {"due": 0, "stored": 0, "gaps": 0, "no_file": 0}
    with Session(engine) as session:
        loans = due_for_refresh(session, as_of, policy)
        counts["due"] = len(loans)
        for loan in loans:
            customer = session.get(Customer, loan.customer_id)
            profile = store.profile(customer)
            query = BureauQuery(name=profile.name, id_number=profile.id_number,
                                phone=profile.phone, reason="post_loan_management",
                                authorization_ref=f"consent:{consent_id(session, loan)}",
                                as_of=night_time(as_of),
                                idempotency_key=f"pboc-refresh:{loan.ref}:{as_of.isoformat()}")
            try:
                report = vendors.pboc.query(query)
            except VendorError as exc:  # an outage is a gap tonight, not a failed run
                log.warning("bureau refresh unavailable for loan %s: %s", loan.id,
                            type(exc).__name__)
                counts["gaps"] += 1
                continue
            if not report.found or not report.report_json:
                counts["no_file"] += 1
                continue
            counts["stored"] += store.ingest_bureau(session, customer, "pboc",
                                                    report.report_json,
                                                    night_time(as_of)).stored
            session.commit()
    return counts
