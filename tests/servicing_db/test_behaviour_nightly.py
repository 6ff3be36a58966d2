"""The nightly job rescores: a loan's behaviour PD follows its evidence night by night."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, FeatureFact
from chedaitong.db.behaviour import BehaviourScore
from chedaitong.db.servicing import DelinquencySnapshot, Loan, ScheduledInstallment
from chedaitong_sim.synthetic.behaviour_frames import behaviour_frame
from decisioning.postloan import behaviour
from decisioning.postloan import run as postloan
from decisioning.postloan.inspection import Resources, inspect_partition
from decisioning.postloan.lock import acquire
from models.registry import Registry
from models.train import train_and_register
from servicing.booking import book_loan, post_repayment
from tests.servicing_db.conftest import FAST, plan

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def behaviour_root(tmp_path_factory, model_root):
    """The session's application champion plus a behaviour champion (synthetic snapshots)."""
    root = tmp_path_factory.mktemp("both") / "models"
    shutil.copytree(model_root, root)
    reg = Registry(root, "behaviour")
    version, _ = train_and_register(behaviour_frame(4000, seed=2), reg, config=FAST,
                                    report=False)
    reg.promote(version)
    behaviour._model.cache_clear()
    return root


@pytest.fixture
def beh_resources(pl_settings, behaviour_root):
    return Resources(str(behaviour_root), str(pl_settings.rules_dir))


def _night(engine, as_of, resources, store):
    held = acquire(engine, postloan.LOCK_NAME, "test")
    out = postloan.run_day(engine, as_of, resources=resources, store=store, vendors=None,
                           holder="test")
    postloan.postloan_lock.release(held)
    return out


def _gps(session, customer_id, start: date, end: date, every: int = 3) -> None:
    """Vehicle fixes on every ``every``-th day (a driven car reports on about a third)."""
    d = start
    while d <= end:
        t = datetime(d.year, d.month, d.day, 9)
        session.add(FeatureFact(customer_id=customer_id, source="vehicle_gps", kind="fix",
                                event_time=t, uploaded_at=t + timedelta(minutes=5), value=0.0))
        d += every * DAY


def _uploads(session, customer_id, start: date, end: date) -> None:
    """A daily SMS upload batch (nothing flagged in it): the app is installed and in use."""
    d = start
    while d <= end:
        t = datetime(d.year, d.month, d.day, 20)
        session.add(FeatureFact(customer_id=customer_id, source="sms", kind="upload",
                                event_time=t, uploaded_at=t, value=None))
        d += DAY


@pytest.fixture
def one_loan(engine, world):
    with Session(engine) as session:
        app = session.get(Application, sorted(world["applications"].values())[0])
        loan = book_loan(session, application_id=app.id, plan=plan(term=24),
                         disbursed_on=date(2025, 1, 3), loan_ref="LNWALK")
        session.execute(delete(FeatureFact).where(FeatureFact.customer_id == app.customer_id,
                                                  FeatureFact.source == "vehicle_gps"))
        session.commit()
        return loan.id, app.customer_id


def _pay(engine, loan_id, number, on, penalty=Decimal("0.00")):
    """Pay installment ``number`` in full (plus ``penalty``: penalty interest is paid first)."""
    with Session(engine) as session:
        r = session.scalars(select(ScheduledInstallment).where(
            ScheduledInstallment.loan_id == loan_id,
            ScheduledInstallment.number == number)).one()
        post_repayment(session, loan_id, r.principal_due + r.interest_due + penalty, on,
                       "test", f"walk-{number}")
        session.commit()
        return r.due_date


def _pd(engine, loan_id, as_of) -> float:
    with Session(engine) as session:
        return session.scalars(select(BehaviourScore.pd).where(
            BehaviourScore.loan_id == loan_id, BehaviourScore.as_of == as_of)).one()


def test_a_loan_walks_through_nights_and_its_behaviour_pd_follows(engine, one_loan, store,
                                                                  beh_resources):
    loan_id, customer = one_loan
    dues = [_pay(engine, loan_id, n, d) for n, d in
            [(1, date(2025, 2, 1)), (2, date(2025, 3, 1)), (3, date(2025, 4, 1))]]
    assert all(d.day == 3 for d in dues)
    with Session(engine) as session:
        _gps(session, customer, date(2025, 1, 4), date(2025, 5, 12))
        _uploads(session, customer, date(2025, 1, 4), date(2025, 6, 2))  # the app stays in use
        session.commit()

    on_time = date(2025, 4, 20)
    _night(engine, on_time, beh_resources, store)
    missed = date(2025, 5, 12)  # May 3 unpaid: 9 days past due, tracker still reporting
    _night(engine, missed, beh_resources, store)
    dark = date(2025, 5, 28)  # still unpaid and no fix for 16 days
    _night(engine, dark, beh_resources, store)
    _pay(engine, loan_id, 4, date(2025, 5, 29), penalty=Decimal("300.00"))
    with Session(engine) as session:
        _gps(session, customer, date(2025, 5, 29), date(2025, 6, 2), every=1)
        session.commit()
    paid = date(2025, 6, 2)
    _night(engine, paid, beh_resources, store)

    p = {d: _pd(engine, loan_id, d) for d in (on_time, missed, dark, paid)}
    assert p[on_time] < p[missed] < p[dark], p
    assert p[paid] < p[dark], p
    with Session(engine) as session:
        dpd = dict(session.execute(select(DelinquencySnapshot.as_of, DelinquencySnapshot.dpd)
                                   .where(DelinquencySnapshot.loan_id == loan_id)).all())
    assert (dpd[on_time], dpd[missed], dpd[dark], dpd[paid]) == (0, 9, 25, 0)


def test_unchanged_evidence_keeps_the_score_and_the_report_shows_the_spread(
        engine, portfolio, store, beh_resources):
    as_of = date(2025, 7, 10)
    out = _night(engine, as_of, beh_resources, store)
    section = out.report["behaviour"]
    assert section["scored"] == len(portfolio) and section["distinct_scores"] > 3
    # same model, same features → same score: rescoring the stored night's inputs
    with Session(engine) as session:
        stored = dict(session.execute(select(BehaviourScore.loan_id, BehaviourScore.score)
                                      .where(BehaviourScore.as_of == as_of)).all())
        ids = sorted(stored)
        # the loans were closed for as_of: reload their inputs as they stood that night
        session.execute(Loan.__table__.update().values(last_closed_date=as_of - DAY))
        part = postloan.load_partition(session, ids, store)
        session.rollback()
    again = inspect_partition(part, as_of, beh_resources).loans
    assert dict(zip(again["loan_id"], again["behaviour_score"].astype(int), strict=True)) \
        == stored


def test_collection_and_phone_queues_are_ordered_by_expected_loss(engine, portfolio, store,
                                                                  beh_resources):
    as_of = date(2025, 7, 10)
    _night(engine, as_of, beh_resources, store)
    with Session(engine) as session:
        loss = dict(session.execute(select(BehaviourScore.loan_id, BehaviourScore.expected_loss)
                                    .where(BehaviourScore.as_of == as_of)).all())
        for action in ("outsourced_collection", "phone_task"):
            queue = behaviour.work_queue(session, as_of, action)
            assert queue, action
            order = [loss[a.loan_id] for a in queue]
            assert order == sorted(order, reverse=True), action
        row = session.scalars(select(BehaviourScore).where(BehaviourScore.as_of == as_of)
                              .order_by(BehaviourScore.expected_loss.desc())).first()
        assert row.expected_loss == (Decimal(repr(row.pd)) * row.exposure).quantize(
            Decimal("0.01")) and row.exposure > 0
        # the loans someone acts on tonight carry their top reasons
        acted = {a.loan_id for a in behaviour.work_queue(session, as_of, "phone_task")}
        explained = dict(session.execute(select(BehaviourScore.loan_id, BehaviourScore.reasons)
                                         .where(BehaviourScore.as_of == as_of)).all())
        assert all(explained[i] for i in acted)


def test_without_a_behaviour_champion_the_rules_reading_it_do_not_fire(
        engine, portfolio, store, pl_settings, model_root, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(model_root, root)  # the application champion only
    resources = dataclasses.replace(Resources(str(root), str(pl_settings.rules_dir)))
    out = _night(engine, date(2025, 7, 10), resources, store)
    assert out.report["behaviour"] == {"champion": None, "scored": 0,
                                       "note": behaviour.NO_CHAMPION}
    with Session(engine) as session:
        assert session.scalars(select(BehaviourScore)).all() == []
        fired = {r for rules in session.scalars(
            select(postloan.PostloanAction.rule_ids)) for r in rules}
    assert not fired & {"PL_HIGH_PD_OVERDUE", "PL_NEW_BORROWING", "PL_WEAK_SCORE_CURRENT"}
    assert "PL_LONG_OVERDUE" in fired  # the other rules still run

