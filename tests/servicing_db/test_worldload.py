"""The demo portfolio: the sample world's booked loans and repayment history in the ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db import Application
from chedaitong.db.origination import StateTransition
from chedaitong.db.servicing import (
    DelinquencySnapshot,
    Loan,
    LoanRepayment,
    PostloanRun,
    ScheduledInstallment,
)
from chedaitong_sim.worldload.servicing import load_world_loans
from tests.servicing_db.conftest import WORLD
from tests.servicing_db.test_postloan import _cli

WORLD_END = date(2025, 6, 30)


def _expected(ids: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The loaded customers' loans and the payments the world says they made: one per paid
    line, one more per part-payment (the rest of an unpaid line's penalty is not paid)."""
    loans = pd.read_parquet(WORLD / "loans.parquet")
    loans = loans[loans["customer_id"].isin(list(ids["customers"]))]
    reps = pd.read_parquet(WORLD / "repayments.parquet")
    reps = reps[reps["loan_id"].isin(loans["loan_id"])]
    paid = reps[reps["paid_at"].notna()].assign(
        paid=lambda r: [Decimal(str(a)) + Decimal(str(p)) for a, p in zip(
            r["amount_paid"], r["penalty_interest"], strict=True)])
    part_open = reps[reps["paid_at"].isna() & reps["partial_paid_at"].notna()]
    part_open = part_open.assign(paid=[Decimal(str(a)) for a in part_open["partial_amount"]],
                                 penalty_interest=0)
    part_settled = reps[reps["paid_at"].notna() & reps["partial_paid_at"].notna()]
    part_settled = part_settled.assign(paid=Decimal(0), penalty_interest=0)  # counted above
    return loans, pd.concat([paid, part_open, part_settled])


def test_world_loans_are_booked_with_their_history(engine, world):
    loans, reps = _expected(world)
    assert len(loans) >= 5 and len(reps) > 0  # the 30 sample customers do have loans
    with Session(engine) as s:
        booked = load_world_loans(s, WORLD, world)
        s.commit()
        assert set(booked) == set(loans["loan_id"])
        by_ref = {x.ref: x for x in s.scalars(select(Loan))}
        for row in loans.itertuples(index=False):
            loan = by_ref[row.loan_id]
            assert loan.principal == Decimal(str(row.principal))
            assert loan.term_months == row.term_months
            assert loan.repayment_method == row.repayment_method
            assert loan.disbursed_on == row.disbursed_at.date()
            assert loan.customer_id == world["customers"][row.customer_id]
            n = s.scalar(select(func.count()).select_from(ScheduledInstallment)
                         .where(ScheduledInstallment.loan_id == loan.id))
            assert n == row.term_months
            app_id = world["applications"].get(row.application_id)
            if app_id is not None:
                assert loan.application_id == app_id
                assert s.get(Application, app_id).state == "booked"
                note = s.scalar(select(StateTransition.note).where(
                    StateTransition.application_id == app_id,
                    StateTransition.to_state == "booked"))
                assert note == row.loan_id
        posted = s.scalars(select(LoanRepayment).where(LoanRepayment.source == "world")).all()
        assert len(posted) == len(reps)
        total = sum((r.amount for r in posted), Decimal(0))
        world_total = sum(reps["paid"], Decimal(0))
        assert total == world_total
        # Every posted yuan is accounted for; the only differences from the world are its own
        # (higher) 罚息, left unapplied, and schedule rounding cents (documented mismatch).
        world_pen = reps.groupby("loan_id")["penalty_interest"].apply(
            lambda v: sum((Decimal(str(x)) for x in v), Decimal(0)))
        for ref, loan in by_ref.items():
            rows = s.scalars(select(ScheduledInstallment)
                             .where(ScheduledInstallment.loan_id == loan.id)).all()
            paid = sum((r.amount for r in posted if r.loan_id == loan.id), Decimal(0))
            applied = sum((r.principal_paid + r.interest_paid + r.penalty_paid for r in rows),
                          Decimal(0))
            assert paid == applied + loan.unapplied, ref
            assert loan.unapplied <= world_pen.get(ref, Decimal(0)), ref
            last = max((r.due_date for r in rows if r.settled_on), default=None)
            short = sum((r.principal_due + r.interest_due - r.principal_paid - r.interest_paid
                         for r in rows if last and r.due_date <= last), Decimal(0))
            assert short <= Decimal("0.05"), ref  # rounding cents of the rebuilt schedule

        # loading again books and posts nothing twice
        again = load_world_loans(s, WORLD, world)
        s.commit()
        assert again == booked
        assert s.scalar(select(func.count()).select_from(Loan)) == len(loans)
        assert s.scalar(select(func.count()).select_from(LoanRepayment)) == len(reps)


def test_nightly_run_on_the_world_portfolio(engine, world, pl_settings):
    with Session(engine) as s:
        load_world_loans(s, WORLD, world)
        s.commit()
    proc = _cli(pl_settings, ["--as-of", WORLD_END.isoformat(), "--no-send"])
    assert proc.returncode == 0, proc.stderr
    with Session(engine) as s:
        active = s.scalar(select(func.count()).select_from(Loan).where(Loan.status == "active"))
        assert active > 0
        snaps = s.scalar(select(func.count()).select_from(DelinquencySnapshot)
                         .where(DelinquencySnapshot.as_of == WORLD_END))
        assert snaps == s.scalar(select(func.count()).select_from(Loan).where(
            Loan.status == "active", Loan.disbursed_on < WORLD_END))
        run = s.scalar(select(PostloanRun).where(PostloanRun.as_of == WORLD_END))
        assert run.status == "finished" and run.report["loans"] == snaps
