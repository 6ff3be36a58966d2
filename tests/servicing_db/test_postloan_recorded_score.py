"""The night copies the application score its decision recorded; it never re-scores it.

A loan's application score at booking cannot move (same model, same decision features), so
the DPD snapshot's `model_score` / `model_pd` are `decision_records.model`'s score and PD,
NULL when the decision was not scored or the loan has none — and a night needs no
application model at all: with only a behaviour champion in the registry it still scores
every loan's behaviour.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import DecisionRecord
from chedaitong.db.behaviour import BehaviourScore
from chedaitong.db.servicing import DelinquencySnapshot, Loan, PostloanRun
from chedaitong_sim.synthetic.behaviour_frames import behaviour_frame
from decisioning.postloan import behaviour
from decisioning.postloan.inspection import Resources
from models.registry import Registry
from models.train import train_and_register
from tests.servicing_db.conftest import AS_OF, FAST
from tests.servicing_db.test_behaviour_nightly import _night


def _decide(engine, recorded: list[dict | None]) -> dict[int, dict | None]:
    """A decision for each of the first len(recorded) loans' applications, with `recorded` as
    its `model` JSON (None: not scored); returns {loan id: model} of those loans."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    out = {}
    with Session(engine) as s:
        loans = s.execute(select(Loan.id, Loan.application_id)
                          .where(Loan.application_id.is_not(None)).order_by(Loan.id)).all()
        for (loan_id, app_id), model in zip(loans, recorded, strict=False):
            s.add(DecisionRecord(
                application_id=app_id, decided_at=now, as_of=now, outcome="approve",
                rules_version="t", features={"age": 30, "model_score": 1}, fired_rules=[],
                offers=[], reasons=[], evidence_gaps=[], timings_ms={}, model=model))
            out[loan_id] = model
        s.commit()
    return out


def _snapshots(engine) -> dict[int, tuple]:
    with Session(engine) as s:
        return {r.loan_id: (r.model_score, r.model_pd) for r in s.execute(
            select(DelinquencySnapshot.loan_id, DelinquencySnapshot.model_score,
                   DelinquencySnapshot.model_pd).where(DelinquencySnapshot.as_of == AS_OF))}


@pytest.fixture(scope="module")
def behaviour_only_root(tmp_path_factory):
    """A registry with a behaviour champion and no application model at all."""
    root = tmp_path_factory.mktemp("behaviour-only") / "models"
    reg = Registry(root, "behaviour")
    version, _ = train_and_register(behaviour_frame(4000, seed=2), reg, config=FAST,
                                    report=False)
    reg.promote(version)
    behaviour._model.cache_clear()
    assert Registry(root).versions() == []
    return root


def test_snapshots_hold_the_recorded_score_and_pd_null_without_one(engine, portfolio, store,
                                                                  resources):
    recorded = _decide(engine, [{"score": 612, "pd": 0.0446, "grade": "B"},
                                {"score": 540, "pd": 0.1234567, "grade": "D"},
                                None,  # a decision that was not scored
                                {"grade": "C"}])  # nor this one (no number recorded)
    out = _night(engine, AS_OF, resources, store)
    snap = _snapshots(engine)
    assert len(snap) == len(portfolio)
    ids = list(recorded)
    assert snap[ids[0]] == (612, 0.0446)
    assert snap[ids[1]] == (540, 0.123457)  # stored to 6 places, as before
    assert snap[ids[2]] == (None, None) and snap[ids[3]] == (None, None)
    undecided = [i for i in portfolio if i not in recorded]
    assert undecided and all(snap[i] == (None, None) for i in undecided)
    # the report counts the two scored loans only (no NaN: PostgreSQL refuses it in JSON)
    score = out.report["score"]
    assert score["mean"] == 576.0 and sum(score["bands"].values()) == 2
    with Session(engine) as s:
        stored = s.scalars(select(PostloanRun.report).where(PostloanRun.as_of == AS_OF)).one()
    assert stored["score"] == score


def test_a_night_without_any_score_recorded_reports_none(engine, portfolio, store, resources):
    out = _night(engine, AS_OF, resources, store)
    assert out.status == "finished" and out.loans == len(portfolio)
    assert set(_snapshots(engine).values()) == {(None, None)}
    assert out.report["score"]["mean"] is None and out.report["score"]["p50"] is None


def test_a_night_needs_no_application_model(engine, portfolio, store, pl_settings,
                                            behaviour_only_root):
    recorded = _decide(engine, [{"score": 600, "pd": 0.05}])
    resources = Resources(str(behaviour_only_root), str(pl_settings.rules_dir))
    out = _night(engine, AS_OF, resources, store)
    assert out.status == "finished" and out.loans == len(portfolio)
    assert out.report["behaviour"]["scored"] == len(portfolio)
    with Session(engine) as s:
        scored = s.scalars(select(BehaviourScore.loan_id)
                           .where(BehaviourScore.as_of == AS_OF)).all()
    assert sorted(scored) == sorted(portfolio)
    assert _snapshots(engine)[next(iter(recorded))] == (600, 0.05)
