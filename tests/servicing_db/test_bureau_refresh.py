"""Refreshed bureau reports after booking: consented loans only (a live consent covering the
bureau), bounded per night, an outage is a gap and never a failed run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, FeatureFact, Role, User
from chedaitong.db.origination import CreditConsent
from chedaitong.db.servicing import Loan
from decisioning.origination.consent import record_postloan_monitoring
from decisioning.postloan import run as postloan
from decisioning.postloan.bureau_refresh import RefreshPolicy, night_time, refresh, unconsented
from decisioning.postloan.inspection import postloan_features
from decisioning.postloan.lock import acquire, release
from tests.servicing_db.conftest import WORLD

AS_OF = date(2025, 7, 10)
PORT = 61610  # this engineer's port range


@pytest.fixture(scope="module")
def own_sandbox():
    from chedaitong_sim.sandbox.server import running_sandbox

    with running_sandbox(WORLD, port=PORT, latency_ms=5) as server:  # a fast bureau
        yield server


@pytest.fixture
def own_vendors(own_sandbox):
    from chedaitong_sim.testing import fast_vendors

    own_sandbox.reset()
    v = fast_vendors(own_sandbox.base_url)
    yield v
    v.close()


def _consent(engine, loan_ids):
    """Each loan's customer signs (a user of their own) and so consents to monitoring."""
    with Session(engine) as session:
        for loan in session.scalars(select(Loan).where(Loan.id.in_(loan_ids))):
            signer = User(username=f"signer-{loan.id}", display_name="signer",
                          role=Role.CUSTOMER)
            session.add(signer)
            session.flush()
            record_postloan_monitoring(session=session,
                                       application=session.get(Application,
                                                               loan.application_id),
                                       granted_by=signer.id)
        session.commit()


def _night(engine, as_of, resources, store, vendors, policy):
    held = acquire(engine, postloan.LOCK_NAME, "test")
    try:
        return postloan.run_day(engine, as_of, resources=resources, store=store,
                                vendors=vendors, holder="test", bureau_policy=policy)
    finally:
        release(held)


def _reports_at(engine, when) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count(func.distinct(FeatureFact.customer_id))).where(
            FeatureFact.source == "pboc", FeatureFact.uploaded_at == when.replace(tzinfo=None)))


def test_consented_loans_get_a_refreshed_report_bounded_per_night(
        engine, portfolio, store, resources, own_vendors):
    consented = portfolio[:12]
    _consent(engine, consented)
    out = _night(engine, AS_OF, resources, store, own_vendors, RefreshPolicy(per_night=5))
    with Session(engine) as session:
        run = session.scalar(select(postloan.PostloanRun).where(
            postloan.PostloanRun.as_of == AS_OF))
        counts = run.counts["bureau_refresh"]
    assert out.status == "finished"
    assert counts["due"] == 5 and counts["stored"] + counts["no_file"] == 5
    assert _reports_at(engine, night_time(AS_OF)) == counts["stored"] > 0
    # the next night refreshes the next stalest consented loans, never an unconsented one
    nxt = date(2025, 7, 11)
    _night(engine, nxt, resources, store, own_vendors, RefreshPolicy(per_night=50))
    with Session(engine) as session:
        refreshed = set(session.scalars(select(Loan.id).join(
            FeatureFact, FeatureFact.customer_id == Loan.customer_id).where(
            FeatureFact.source == "pboc",
            FeatureFact.uploaded_at >= night_time(AS_OF).replace(tzinfo=None))))
        part = postloan.load_partition(session, sorted(refreshed), store)
        session.rollback()
    assert refreshed and refreshed <= set(consented)
    feats = postloan_features(part, nxt)
    assert feats["new_inquiries_since_origination"].notna().all()  # a refreshed report exists


def test_a_bureau_outage_leaves_a_gap_not_a_failed_run(engine, portfolio, store, resources,
                                                        own_vendors, own_sandbox):
    _consent(engine, portfolio)
    httpx.post(f"{own_sandbox.base_url}/_admin/outage", json={"vendor": "pboc", "down": True})
    try:
        out = _night(engine, AS_OF, resources, store, own_vendors, RefreshPolicy(per_night=3))
    finally:
        httpx.post(f"{own_sandbox.base_url}/_admin/outage",
                   json={"vendor": "pboc", "down": False})
    assert out.status == "finished" and out.loans == len(portfolio)
    with Session(engine) as session:
        run = session.scalar(select(postloan.PostloanRun).where(
            postloan.PostloanRun.as_of == AS_OF))
    assert run.counts["bureau_refresh"] == {"due": 3, "stored": 0, "gaps": 3, "no_file": 0,
                                            "no_consent": 0}
    assert _reports_at(engine, night_time(AS_OF)) == 0


@dataclass
class RecordingBureau:
    """PBOC as the refresh sees it, keeping every query it is sent (a person with no file)."""

    queries: list = field(default_factory=list)

    def query(self, q):
        from vendors.interfaces import PbocReport

        self.queries.append(q)
        return PbocReport(request_id=f"r{len(self.queries)}", found=False, code="NO_FILE")


@pytest.mark.usefixtures("portfolio")  # the booked loans
def test_a_loan_without_a_live_consent_covering_pboc_is_skipped_and_reported(engine, store):
    """The refresh cited the newest monitoring consent without checking its expiry or its
    bureaus: a loan whose consent had lapsed, or named only the third-party bureau, was
    still queried at PBOC. Now such a loan is skipped and counted, and the query cites the
    consent that covers it."""
    policy = RefreshPolicy(per_night=50)
    with Session(engine) as s:  # the loans whose report is old enough for a refresh
        stale, due_ids = unconsented(s, AS_OF, policy, limit=50)
    assert stale == len(due_ids) >= 4
    live, lapsed, third_party_only, none = due_ids[:4]
    _consent(engine, [live, lapsed, third_party_only])
    now = night_time(AS_OF)
    with Session(engine) as s:
        by_loan = {loan.id: s.scalar(select(CreditConsent).where(
            CreditConsent.application_id == loan.application_id))
            for loan in s.scalars(select(Loan).where(
                Loan.id.in_([live, lapsed, third_party_only])))}
        by_loan[lapsed].expires_at = now - timedelta(days=1)
        by_loan[third_party_only].bureaus = ["thirdparty"]
        # an older, superseded consent of the live loan: never the one cited
        by_loan[live].superseded_at = datetime.now(UTC)
        s.flush()
        record_postloan_monitoring(session=s, application=s.get(
            Application, s.get(Loan, live).application_id), granted_by=by_loan[live].granted_by)
        s.commit()
        cited = s.scalar(select(CreditConsent.id).where(
            CreditConsent.application_id == s.get(Loan, live).application_id,
            CreditConsent.superseded_at.is_(None)))
        loan_refs = {i: s.get(Loan, i).ref for i in (live, lapsed, third_party_only, none)}
    bureau = RecordingBureau()
    counts = refresh(engine, AS_OF, vendors=type("V", (), {"pboc": bureau})(), store=store,
                     policy=policy)
    assert [q.idempotency_key.split(":")[1] for q in bureau.queries] == [loan_refs[live]]
    assert bureau.queries[0].authorization_ref == f"consent:{cited}"
    assert counts == {"due": 1, "stored": 0, "gaps": 0, "no_file": 1,
                      "no_consent": stale - 1}
