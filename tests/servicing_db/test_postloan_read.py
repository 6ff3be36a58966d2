"""The PostgreSQL COPY read of schedules gives exactly the frame of the ORM read."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from chedaitong.db.servicing import Loan
from decisioning.postloan.run import _installments, _installments_by_copy
from tests.servicing_db.conftest import AS_OF
from tests.servicing_db.test_behaviour_nightly import (  # noqa: F401 (fixtures)
    beh_resources,
    behaviour_root,
)
from tests.servicing_db.test_postloan import run


def _decide(engine) -> None:
    """Decisions for a few of the portfolio's applications (one of them not scored, one
    with a score and no PD)."""
    from datetime import UTC, datetime

    from chedaitong.db import DecisionRecord
    from chedaitong.db.servicing import Loan

    with Session(engine) as s:
        apps = sorted(s.scalars(Loan.__table__.select().with_only_columns(
            Loan.application_id).where(Loan.application_id.is_not(None))))[:5]
        now = datetime(2025, 1, 1, tzinfo=UTC)
        for k, app in enumerate(apps):
            model = {"score": 600 + k, "pd": 0.0123456 * k, "grade": "B"} if k else None
            if k == 4:
                model.pop("pd")
            s.add(DecisionRecord(
                application_id=app, decided_at=now, as_of=now, outcome="approve",
                rules_version="t", features={"age": k, "education": "本科"}, fired_rules=[],
                offers=[], reasons=[], evidence_gaps=[], timings_ms={}, model=model))
        s.commit()


def test_copy_read_equals_row_read(engine, portfolio, resources, store):
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    run(engine, AS_OF, resources, store)  # penalty accrued through AS_OF on the late lines
    with Session(engine) as s:
        want = _installments(s, portfolio)
        got = _installments_by_copy(s, portfolio)
    assert len(want) > 500 and want["penalty_through"].notna().any()
    assert (got.dtypes.astype(str).str[:10] == want.dtypes.astype(str).str[:10]).all()
    dates = {c: "datetime64[ns]" for c in ("due_date", "penalty_through", "settled_on")}
    pd.testing.assert_frame_equal(got.astype(dates), want.astype(dates))  # units may differ


def _frames(part):
    return {"loans": part.loans, "installments": part.installments, "facts": part.facts}


def test_copy_partition_equals_row_partition(engine, portfolio, resources, store):
    """Loans (with their recorded application score and PD), schedules and facts: the COPY
    read is the row read."""
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    from decisioning.postloan.run import load_partition

    _decide(engine)
    with Session(engine) as s:
        want = _frames(load_partition(s, portfolio, store, bulk=False))
        got = _frames(load_partition(s, portfolio, store, bulk=True))
    assert len(want["facts"]) > 100
    assert sorted(want["loans"]["application_score"].dropna()) == [601, 602, 603, 604]
    assert sorted(want["loans"]["application_pd"].dropna()) == [0.0123456 * k
                                                                 for k in (1, 2, 3)]
    dates = {c: "datetime64[ns]" for c in ("due_date", "penalty_through", "settled_on")}
    pd.testing.assert_frame_equal(got.pop("installments").astype(dates),
                                  want.pop("installments").astype(dates))
    want["loans"]["disbursed_on"] = want["loans"]["disbursed_on"].astype("datetime64[ns]")
    got["loans"]["disbursed_on"] = got["loans"]["disbursed_on"].astype("datetime64[ns]")
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
    with Session(engine) as s:  # a few customers: others' registrations on shared devices
        few = sorted(set(want["loans"]["customer_id"].tolist()))[:5]
        pd.testing.assert_frame_equal(store.facts(s, few, bulk=True),
                                      store.facts(s, few, bulk=False))


def test_copy_writes_equal_row_writes(engine, portfolio, beh_resources, store):  # noqa: F811
    """One partition's day close written by COPY / set-based SQL leaves the rows that
    executemany leaves (each tried in a transaction that is rolled back)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    from sqlalchemy import text

    from decisioning.postloan.inspection import inspect_partition
    from decisioning.postloan.run import load_partition, persist

    _decide(engine)  # snapshots with a score and PD, a score alone and NULLs
    queries = {
        "accruals": "SELECT loan_id, installment_no, accrual_date, base, amount "
                    "FROM penalty_accruals ORDER BY 1, 2, 3",
        "installments": "SELECT id, penalty_charged, penalty_through FROM loan_installments "
                        "ORDER BY id",
        "snapshots": "SELECT loan_id, as_of, dpd, bucket, model_score, model_pd "
                     "FROM delinquency_history ORDER BY 1, 2",
        "scores": "SELECT loan_id, as_of, model_version, pd, score, grade, reasons::text, "
                  "exposure, expected_loss FROM behaviour_scores ORDER BY 1, 2",
        "actions": "SELECT loan_id, as_of, action, rule_ids::text, dpd, bucket, status "
                   "FROM postloan_actions ORDER BY 1, 3",
        "loans": "SELECT id, last_closed_date, accrued_through FROM loans ORDER BY id"}
    seen = {}
    for bulk in (False, True):
        with Session(engine) as s:
            part = load_partition(s, portfolio, store)
            persist(s, part, inspect_partition(part, AS_OF, beh_resources), AS_OF, bulk=bulk)
            seen[bulk] = {k: s.execute(text(q)).all() for k, q in queries.items()}
            s.rollback()
    assert seen[False]["accruals"] and seen[False]["actions"] and seen[False]["scores"]
    assert {r[4] for r in seen[False]["snapshots"]} == {None, 601, 602, 603, 604}
    assert {r[1] for r in seen[False]["loans"]} == {AS_OF}
    assert seen[True] == seen[False]


def test_night_read_equals_row_read_and_closes_on_postgresql(engine, portfolio, resources,
                                                             store):
    """A night's read (`as_of`): only the lines due before the night, the whole schedule's
    outstanding principal per loan, the same on both paths; on PostgreSQL the locking read
    has moved the loans' close marker (and `persist` leaves it)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    from sqlalchemy import text

    from decisioning.postloan.run import load_partition

    with Session(engine) as s:
        full = load_partition(s, portfolio, store, bulk=False)
        want = load_partition(s, portfolio, store, bulk=False, as_of=AS_OF)
        assert not want.closed
        got = load_partition(s, portfolio, store, bulk=True, as_of=AS_OF)
        closed = s.execute(text("SELECT DISTINCT last_closed_date FROM loans WHERE id = "
                                "ANY(:ids)"), {"ids": portfolio}).scalars().all()
        s.rollback()
    assert got.closed and closed == [AS_OF]
    lines = full.installments
    assert 0 < len(want.installments) < len(lines)
    assert (want.installments["due_date"] < pd.Timestamp(AS_OF)).all()
    owed = lines.groupby("loan_id")["unpaid_principal"].sum()
    assert want.loans["exposure_cents"].tolist() == owed.reindex(
        want.loans["loan_id"], fill_value=0).tolist()
    dates = {c: "datetime64[ns]" for c in ("due_date", "penalty_through", "settled_on")}
    pd.testing.assert_frame_equal(got.installments.astype(dates),
                                  want.installments.astype(dates))
    for frame in (got.loans, want.loans):
        frame["disbursed_on"] = frame["disbursed_on"].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(got.loans, want.loans)


def test_a_nights_read_skips_loans_already_closed_for_it(engine, portfolio, resources, store):
    """A second reader of a night's loans (a Dask task retried beside the first, which
    closed part of its range) reads only the loans still behind: nothing is closed twice."""
    from decisioning.postloan.run import load_partition

    half = portfolio[: len(portfolio) // 2]
    run(engine, AS_OF, resources, store)  # every loan closed for AS_OF
    with Session(engine) as s:
        s.execute(Loan.__table__.update().where(Loan.id.in_(half)).values(
            last_closed_date=AS_OF - timedelta(days=1)))  # half of them behind again
        for bulk in {False, engine.dialect.name == "postgresql"}:
            part = load_partition(s, portfolio, store, bulk=bulk, as_of=AS_OF)
            assert part.loans["loan_id"].tolist() == half
            assert set(part.installments["loan_id"]) <= set(half)
        s.rollback()
