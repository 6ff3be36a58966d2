"""The nightly job: penalty never twice, idempotent, resumable after kill -9, exclusive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db.servicing import (
    DelinquencySnapshot,
    Loan,
    LoanRepayment,
    PenaltyAccrual,
    PostloanAction,
    PostloanRun,
    ScheduledInstallment,
)
from decisioning.postloan import run as postloan
from decisioning.postloan.lock import LockHeld, acquire
from servicing.booking import post_repayment
from servicing.ledger import installments_of, load_state
from servicing.loan import Repayment, state_at
from tests.conftest import copy_sqlite
from tests.servicing_db.conftest import AS_OF, ROOT

DAY = timedelta(days=1)


def run(engine, as_of, resources, store, vendors=None, **kw):
    acquire(engine, postloan.LOCK_NAME, "test")
    return postloan.run_day(engine, as_of, resources=resources, store=store, vendors=vendors,
                            holder="test", **kw)


def dump(engine) -> dict:
    """The whole servicing end state, ids replaced by loan refs (comparable across databases)."""
    with Session(engine) as s:
        ref = dict(s.execute(select(Loan.id, Loan.ref)).all())
        return {
            "loans": sorted((x.ref, x.last_closed_date, x.accrued_through, x.status)
                            for x in s.scalars(select(Loan))),
            "installments": sorted((ref[x.loan_id], x.number, x.penalty_charged,
                                    x.penalty_through) for x in s.scalars(
                                        select(ScheduledInstallment))),
            "accruals": sorted((ref[x.loan_id], x.installment_no, x.accrual_date, x.amount)
                               for x in s.scalars(select(PenaltyAccrual))),
            "snapshots": sorted((ref[x.loan_id], x.as_of, x.dpd, x.bucket, x.model_score)
                                for x in s.scalars(select(DelinquencySnapshot))),
            "actions": sorted((ref[x.loan_id], x.as_of, x.action, tuple(x.rule_ids), x.status)
                              for x in s.scalars(select(PostloanAction))),
            "reports": sorted((r.as_of, r.status, repr(r.report))
                              for r in s.scalars(select(PostloanRun))),
        }


def test_run_closes_every_loan_with_scalar_equal_penalty(engine, portfolio, resources, store):
    out = run(engine, AS_OF, resources, store)
    assert out.status == "finished" and out.loans == len(portfolio)
    with Session(engine) as s:
        assert set(s.scalars(select(Loan.last_closed_date))) == {AS_OF}
        buckets = set(s.scalars(select(DelinquencySnapshot.bucket)))
        assert {"M0", "M1"} <= buckets and buckets & {"M3", "M3+"}
        actions = set(s.scalars(select(PostloanAction.action)))
        assert {"outsourced_collection", "phone_task"} <= actions
        # every loan's stored penalty equals a replay of the pure Decimal core to as_of
        for loan in s.scalars(select(Loan)):
            rows = installments_of(s, loan.id)
            reps = s.scalars(select(LoanRepayment).where(LoanRepayment.loan_id == loan.id))
            replay = state_at(str(loan.id), load_state(loan, rows).schedule,
                              [Repayment(r.paid_on, r.amount) for r in reps], as_of=AS_OF)
            assert [r.penalty_charged for r in rows] == [
                i.penalty_charged for i in replay.installments], loan.ref
    assert out.report["loans"] == len(portfolio) and sum(out.report["by_bucket"].values()) == 30


def test_same_date_twice_changes_nothing_and_sends_nothing(engine, portfolio, resources, store,
                                                           vendors, sandbox):
    first = run(engine, AS_OF, resources, store, vendors)
    assert first.sent > 0 and first.failed_sends == 0
    calls = len(sandbox.calls())
    before = dump(engine)
    second = run(engine, AS_OF, resources, store, vendors)
    assert second.status == "already_finished" and second.loans == 0 and second.sent == 0
    assert dump(engine) == before
    assert len(sandbox.calls()) == calls


def test_payment_after_nightly_accrual_is_not_charged_again(engine, portfolio, resources, store):
    run(engine, AS_OF, resources, store)
    with Session(engine) as s:
        loan = s.scalar(select(Loan).where(Loan.ref == "LN0001"))
        charged = s.scalar(select(func.sum(PenaltyAccrual.amount))
                           .where(PenaltyAccrual.loan_id == loan.id))
        n = s.scalar(select(func.count()).select_from(PenaltyAccrual))
        post_repayment(s, loan.id, Decimal("1000.00"), AS_OF, "api", "same-day")
        s.commit()
        assert s.scalar(select(func.count()).select_from(PenaltyAccrual)) == n
        assert s.scalar(select(func.sum(PenaltyAccrual.amount))
                        .where(PenaltyAccrual.loan_id == loan.id)) == charged
        # next day: one more day on the (now smaller) base, no day twice
        run(engine, AS_OF + DAY, resources, store)
        dates = s.execute(select(PenaltyAccrual.installment_no, PenaltyAccrual.accrual_date)
                          .where(PenaltyAccrual.loan_id == loan.id)).all()
        assert len(dates) == len(set(dates))
        assert max(d for _, d in dates) == AS_OF + DAY


def test_lock_held_by_another_process_exits_75(engine, portfolio, pl_settings):
    """This test process holds the lock (advisory lock on PostgreSQL, file lock on SQLite):
    the second process is refused with 75 and writes nothing."""
    held = acquire(engine, postloan.LOCK_NAME)
    try:
        proc = _cli(pl_settings, ["--as-of", AS_OF.isoformat()])
    finally:
        held.release()
    assert proc.returncode == 75, proc.stderr
    assert "lock_held" in proc.stderr
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(PostloanRun)) == 0


def test_lock_of_a_killed_process_is_free(engine, portfolio, pl_settings):
    """kill -9 of a holder leaves no lock behind (the kernel / the server releases it)."""
    code = ("import sys, time; from chedaitong.db import make_engine; "
            "from decisioning.postloan.lock import acquire; "
            f"acquire(make_engine({pl_settings.database_url!r}), 'postloan'); "
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld):
            acquire(engine, postloan.LOCK_NAME)
    finally:
        holder.kill()
        holder.wait()
    proc = _cli(pl_settings, ["--as-of", AS_OF.isoformat(), "--no-send"])
    assert proc.returncode == 0, proc.stderr


def _cli(settings, args, hook: str | None = None, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHEDAITONG_")}
    environ.update(DATABASE_URL=settings.database_url, CHEDAITONG_MODEL_DIR=str(settings.model_dir),
                   CHEDAITONG_RULES_DIR=str(settings.rules_dir),
                   CHEDAITONG_VAR_DIR=str(settings.var_dir), CHEDAITONG_ENV=settings.env, **env)
    if hook:
        environ["POSTLOAN_TEST_SIGNAL"] = hook
    code = ("import tests.servicing_db.chunk_hook; " if hook else "") + (
        "from decisioning.postloan.cli import postloan; postloan()")
    return subprocess.run([sys.executable, "-c", code, "run", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_kill_9_halfway_then_rerun_equals_one_clean_run(engine, portfolio, pl_settings,
                                                        tmp_path):
    """Crash after two committed chunks, rerun: the end state equals one clean run.

    The clean reference runs through the very same CLI in its own process (same code path,
    environment, chunking and model/rule loading as the crashed and resumed runs), never in
    this test process, whose module caches other tests may have warmed."""
    if not pl_settings.database_url.startswith("sqlite"):
        pytest.skip("the clean-run comparison copies the SQLite file")
    import dataclasses

    from chedaitong.db import make_engine

    engine.dispose()  # no pooled connection of ours is open while the file is copied
    clean_db = tmp_path / "clean.db"
    copy_sqlite(pl_settings.database_url.removeprefix("sqlite:///"), clean_db)
    args = ["--as-of", AS_OF.isoformat(), "--chunk-size", "7", "--no-send"]
    crashed = _cli(pl_settings, args, hook=f"2:{signal.SIGKILL}")
    assert crashed.returncode == -9, crashed.stderr
    with Session(engine) as s:
        closed = s.scalar(select(func.count()).select_from(Loan)
                          .where(Loan.last_closed_date == AS_OF))
        assert closed == 14, crashed.stderr  # two chunks of 7 committed, the rest behind
    resumed = _cli(pl_settings, args)
    assert resumed.returncode == 0, resumed.stderr
    reference = _cli(dataclasses.replace(pl_settings, database_url=f"sqlite:///{clean_db}"),
                     args)
    assert reference.returncode == 0, reference.stderr
    clean = make_engine(f"sqlite:///{clean_db}")
    got, want = dump(engine), dump(clean)
    clean.dispose()
    for key in want:  # name the table that differs, and how
        extra, missing = set(got[key]) - set(want[key]), set(want[key]) - set(got[key])
        assert got[key] == want[key], (key, sorted(extra)[:5], sorted(missing)[:5])


@pytest.mark.slow
def test_sigterm_mid_run_is_interrupted_lock_free_and_rerun_equals_clean(
        engine, portfolio, pl_settings, tmp_path):
    """SIGTERM after the second chunk: that chunk is committed, the run is `interrupted`, the
    exit code 143, the lock free at once; the rerun's end state equals one clean run."""
    if not pl_settings.database_url.startswith("sqlite"):
        pytest.skip("the clean-run comparison copies the SQLite file")
    import dataclasses

    from chedaitong.db import make_engine

    engine.dispose()
    clean_db = tmp_path / "clean.db"
    copy_sqlite(pl_settings.database_url.removeprefix("sqlite:///"), clean_db)
    args = ["--as-of", AS_OF.isoformat(), "--chunk-size", "7", "--no-send"]
    stopped = _cli(pl_settings, args, hook=f"2:{signal.SIGTERM}")
    assert stopped.returncode == 143, stopped.stderr
    assert '"event": "interrupted"' in stopped.stderr
    with Session(engine) as s:
        assert s.scalar(select(PostloanRun.status)) == "interrupted"
        assert s.scalar(select(func.count()).select_from(Loan)
                        .where(Loan.last_closed_date == AS_OF)) == 14
    acquire(engine, postloan.LOCK_NAME).release()  # free: nobody is left holding it
    resumed = _cli(pl_settings, args)
    assert resumed.returncode == 0, resumed.stderr
    reference = _cli(dataclasses.replace(pl_settings, database_url=f"sqlite:///{clean_db}"),
                     args)
    assert reference.returncode == 0, reference.stderr
    clean = make_engine(f"sqlite:///{clean_db}")
    got, want = dump(engine), dump(clean)
    clean.dispose()
    for key in want:
        assert got[key] == want[key], key


def test_engine_is_recorded(engine, portfolio, resources, store):
    run(engine, AS_OF, resources, store)
    with Session(engine) as s:
        assert s.get(postloan.PostloanRun, 1).engine == "pandas"
