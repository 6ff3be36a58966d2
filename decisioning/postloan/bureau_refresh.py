"""Refreshed bureau reports after booking (the seed's post-loan evidence), pulled nightly.

Before closing a day the job asks the PBOC adapter for a new report for active loans whose
newest report is older than `RefreshPolicy.max_age` (monthly by default) — only for customers
whose post-loan monitoring consent is on file (recorded when they sign the contract) — at most
`per_night` of them, stalest first, so a large book is refreshed over several nights instead
of flooding the bureau. Each query carries reason ``post_loan_management`` and an idempotency
key per (loan, night), so a rerun never records a second inquiry. The report is stored through
the feature store (encrypted raw, sanitised facts) stamped with the night's as-of time, which is
when tonight's features may first see it.

A loan is queried only under a live consent that covers the bureau queried: purpose
``post_loan_monitoring``, for the loan's own application and customer, neither revoked nor
superseded, unexpired at the night's as-of time, and naming that bureau (PBOC here; a
third-party-only consent does not cover it). A loan due for a refresh without one is skipped
and counted (``no_consent``), and its id logged — never queried.

A vendor outage (or a person with no file) leaves a gap, counted in the run report: the night
goes on with the evidence it has, never fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, Select, String, cast, func, select
from sqlalchemy.orm import Session

from chedaitong.db import Customer, FeatureFact
from chedaitong.db.origination import POST_LOAN_MONITORING, CreditConsent
from chedaitong.db.servicing import Loan

BUREAU_PBOC = "pboc"  # the bureau the refresh queries (`consent.BUREAUS`)

log = logging.getLogger("chedaitong.postloan")


@dataclass(frozen=True)
class RefreshPolicy:
    max_age: timedelta = timedelta(days=30)
    per_night: int = 500


def night_time(as_of: date) -> datetime:
    """The as-of moment the night's features are computed at (00:00 UTC of `as_of`)."""
    return datetime.combine(as_of, time(0), tzinfo=UTC)


def _stale(as_of: date, policy: RefreshPolicy) -> Select:
    """Active loans booked before ``as_of`` whose newest PBOC report is older than the policy
    allows (or who have none), stalest first."""
    now = night_time(as_of).replace(tzinfo=None)
    newest = (select(FeatureFact.customer_id, func.max(FeatureFact.uploaded_at).label("at"))
              .where(FeatureFact.source == "pboc", FeatureFact.uploaded_at <= now)
              .group_by(FeatureFact.customer_id).subquery())
    return (select(Loan).outerjoin(newest, newest.c.customer_id == Loan.customer_id)
            .where(Loan.status == "active", Loan.disbursed_on < as_of,
                   (newest.c.at.is_(None)) | (newest.c.at < now - policy.max_age))
            .order_by(newest.c.at.asc().nulls_first(), Loan.id))


def _covered(as_of: date, bureau: str):
    """The SQL condition of a loan with a live monitoring consent naming ``bureau`` (the list
    is JSON: matched as its text, ``"pboc"`` with its quotes; `covering_consent` checks the
    parsed list again before any query)."""
    now = night_time(as_of).replace(tzinfo=None)
    consented = select(CreditConsent.application_id).where(
        CreditConsent.purpose == POST_LOAN_MONITORING, CreditConsent.revoked_at.is_(None),
        CreditConsent.superseded_at.is_(None), CreditConsent.expires_at > now,
        CreditConsent.customer_id == Loan.customer_id,
        cast(CreditConsent.bureaus, String).contains(f'"{bureau}"'))
    return Loan.application_id.in_(consented)


def due_for_refresh(session: Session, as_of: date, policy: RefreshPolicy) -> list[Loan]:
    """Active loans with a live PBOC monitoring consent whose newest PBOC report is older than
    the policy allows (or who have none), stalest first, at most `policy.per_night`."""
    stmt = _stale(as_of, policy).where(_covered(as_of, BUREAU_PBOC)).limit(policy.per_night)
    return list(session.scalars(stmt))


def unconsented(session: Session, as_of: date, policy: RefreshPolicy,
                limit: int = 20) -> tuple[int, list[int]]:
    """How many loans are due for a refresh but have no live consent covering PBOC (expired,
    revoked, for other bureaus, or none), and the first ``limit`` of their ids."""
    stmt = _stale(as_of, policy).where(~_covered(as_of, BUREAU_PBOC))
    count = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    ids = list(session.scalars(stmt.with_only_columns(Loan.id).limit(limit))) if count else []
    return count, ids


def covering_consent(session: Session, loan: Loan, bureau: str,
                     at: datetime) -> CreditConsent | None:
    """The live post-loan monitoring consent of the loan's own application and customer that
    names ``bureau`` (the one the query cites), or None: never just the newest on file."""
    rows = session.scalars(select(CreditConsent).where(
        CreditConsent.application_id == loan.application_id,
        CreditConsent.customer_id == loan.customer_id,
        CreditConsent.purpose == POST_LOAN_MONITORING).order_by(CreditConsent.id.desc()))
    return next((c for c in rows if c.covers(bureau, at)), None)


def refresh(engine: Engine, as_of: date, *, vendors: Any, store: Any,
            policy: RefreshPolicy = RefreshPolicy()) -> dict[str, int]:
    """Pull tonight's refreshed reports; returns counts for the run report."""
    from vendors.errors import VendorError
    from vendors.interfaces import BureauQuery

    counts = {"due": 0, "stored": 0, "gaps": 0, "no_file": 0, "no_consent": 0}
    with Session(engine) as session:
        counts["no_consent"], skipped = unconsented(session, as_of, policy)
        if skipped:
            log.warning("bureau refresh skipped %d loan(s) without a live consent covering "
                        "PBOC, e.g. loan ids %s", counts["no_consent"], skipped)
        loans = due_for_refresh(session, as_of, policy)
        counts["due"] = len(loans)
        for loan in loans:
            granted = covering_consent(session, loan, BUREAU_PBOC, night_time(as_of))
            if granted is None:  # the SQL's text match said yes, the parsed list says no
                log.warning("bureau refresh skipped loan %s: no live consent covering PBOC",
                            loan.id)
                counts["no_consent"] += 1
                continue
            customer = session.get(Customer, loan.customer_id)
            profile = store.profile(customer)
            query = BureauQuery(name=profile.name, id_number=profile.id_number,
                                phone=profile.phone, reason="post_loan_management",
                                authorization_ref=f"consent:{granted.id}",
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
