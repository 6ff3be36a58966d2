"""The nightly job at a size where a statement's parameters run out, and a send or close stage
that stops: the day never stays `running`; sends are a gap, listed and retried."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from chedaitong.db.servicing import Loan, PostloanAction, PostloanRun
from decisioning.postloan import handoff
from decisioning.postloan import run as postloan
from decisioning.postloan.lock import acquire
from tests.servicing_db.conftest import AS_OF

DAY = timedelta(days=1)
MORE_THAN_PARAMETERS = 70_000  # PostgreSQL takes at most 65,535 per statement, SQLite 32,766


@pytest.fixture(autouse=True)
def quick_agency(sandbox):
    before = sandbox._admin.get("/_admin/config").raise_for_status().json()
    for vendor in ("sms", "collection"):
        sandbox.configure(vendor, latency_ms=0)
    yield
    for vendor in ("sms", "collection"):
        sandbox.configure(vendor, latency_ms=before[vendor]["latency_ms"], down=False,
                          item_error_rate=0.0)


def night(engine, as_of, resources, store, vendors):
    acquire(engine, postloan.LOCK_NAME, "test")
    return postloan.run_day(engine, as_of, resources=resources, store=store, vendors=vendors,
                            holder="test")


def statuses(engine) -> dict[str, int]:
    with Session(engine) as s:
        return dict(s.execute(select(PostloanAction.status, func.count())
                              .group_by(PostloanAction.status)).all())


def test_balances_of_more_loans_than_a_statement_has_parameters(engine, portfolio):
    """The million-loan night's defect: 68,450 open cases → one bind parameter per id."""
    ids = list(portfolio) + list(range(10**8, 10**8 + MORE_THAN_PARAMETERS))
    with Session(engine) as s:
        got = handoff.overdue_by_loan(s, ids, AS_OF)
        one_by_one = {i: handoff.overdue_cents(s, i, AS_OF) for i in portfolio}
    assert len(got) == len(ids)
    assert {i: got[i] for i in portfolio} == one_by_one
    assert any(one_by_one.values())  # the portfolio does owe something
    assert not any(got[i] for i in ids[len(portfolio):])


def test_a_send_stage_that_stops_leaves_the_day_finished_and_its_sends_listed(
        engine, portfolio, resources, store, vendors, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the gateway client blew up")

    monkeypatch.setattr(handoff, "_send_batch", broken)
    out = night(engine, AS_OF, resources, store, vendors)
    assert out.status == "finished" and out.failed_sends > 0
    listed = out.report["failed_sends"]
    assert {"action": "send_stage", "error": "RuntimeError: the gateway client blew up"
            } in [{k: f[k] for k in ("action", "error")} for f in listed]
    unsent = statuses(engine)
    assert "pending" not in unsent and unsent["failed"] > 0
    assert len([f for f in listed if f["action"] != "send_stage"]) == unsent["failed"]
    owed = out.report["failed_sends_total"]
    assert owed.get("aborted_stages") and sum(
        n for k, n in owed.items() if k not in ("case_sync", "aborted_stages")) == unsent["failed"]
    few, counts = handoff.failed_sends(engine, AS_OF, limit=2)  # a big night lists a few
    assert few == [f for f in listed if f["action"] != "send_stage"][:2]
    assert counts == {k: n for k, n in owed.items() if k != "aborted_stages"}
    with Session(engine) as s:
        assert s.scalar(select(PostloanRun.status)) == "finished"

    monkeypatch.undo()
    nxt = night(engine, AS_OF + DAY, resources, store, vendors)
    assert nxt.failed_sends == 0 and nxt.report["handoff"]["retried"] == unsent["failed"]
    assert "failed" not in statuses(engine)


def test_a_close_that_fails_marks_the_run_failed_and_a_rerun_completes(
        engine, portfolio, resources, store, vendors, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("scoring exploded")

    monkeypatch.setattr(postloan, "inspect_partition", broken)
    with pytest.raises(RuntimeError, match="scoring exploded"):
        night(engine, AS_OF, resources, store, vendors)
    with Session(engine) as s:
        assert s.scalar(select(PostloanRun.status)) == "failed"
    monkeypatch.undo()
    out = night(engine, AS_OF, resources, store, vendors)
    assert out.status == "finished" and out.loans == len(portfolio)


def test_items_the_vendors_refuse_for_now_are_listed_and_sent_by_the_next_run(
        engine, portfolio, resources, store, vendors, sandbox):
    for vendor in ("sms", "collection"):
        sandbox.configure(vendor, item_error_rate=0.5)
    first = night(engine, AS_OF, resources, store, vendors)
    assert first.status == "finished" and first.failed_sends > 0
    listed = [f for f in first.report["failed_sends"] if f["action"] != "case_sync"]
    assert listed and all("TEMPORARY_FAILURE" in f["error"] for f in listed)
    assert statuses(engine)["failed"] == len(listed)
    for vendor in ("sms", "collection"):
        sandbox.configure(vendor, item_error_rate=0.0)
    second = night(engine, AS_OF + DAY, resources, store, vendors)
    assert second.failed_sends == 0 and second.report["handoff"]["retried"] == len(listed)
    cases = sandbox.records("cases")
    assert cases and len({c["loan_id"] for c in cases}) == len(cases)  # one case per loan


def test_a_close_stopped_after_two_chunks_leaves_every_later_chunk_behind_and_unlocked(
        engine, portfolio, resources, store):
    """The close stops after its second commit (here its progress callback fails): those two
    chunks are closed and no other — not the one computed meanwhile, not the one read ahead
    (PostgreSQL reads and writes beside the compute, in threads) — no transaction is left
    holding a loan, and the next close does exactly the rest."""
    from decisioning.postloan.inspection import warm

    size = 7

    class Stop(Exception):
        pass

    def progress(done: int, total: int) -> None:
        if done >= 2 * size:
            raise Stop

    acquire(engine, postloan.LOCK_NAME, "test")
    warm(resources)
    with pytest.raises(Stop):
        postloan.close_day(engine, AS_OF, resources=resources, store=store,
                           holder="test", chunk_size=size, progress=progress)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Loan)
                        .where(Loan.last_closed_date == AS_OF)) == 2 * size
        if engine.dialect.name == "postgresql":  # a loan still locked would fail NOWAIT
            assert len(s.execute(text("SELECT id FROM loans FOR UPDATE NOWAIT")).all()) == len(
                portfolio)
            s.rollback()
    done, _ = postloan.close_day(engine, AS_OF, resources=resources, store=store,
                                 holder="test", chunk_size=size)
    assert done == len(portfolio) - 2 * size
