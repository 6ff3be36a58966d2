"""The `loans_keep_history` trigger (migration 0018) in place of the history tables' foreign
keys: a loan with delinquency history or behaviour scores cannot be deleted or renumbered;
a loan without history can, and the night's update of the close marker is never refused;
no history row is stored for a loan that does not exist (the `<table>_has_loan` triggers)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.db.behaviour import BehaviourScore
from chedaitong.db.featuredata import Customer
from chedaitong.db.servicing import DelinquencySnapshot, Loan

DAY = date(2025, 7, 10)


def _loan(session: Session, customer_id: int, ref: str) -> int:
    loan = Loan(ref=ref, customer_id=customer_id, principal=Decimal("1000.00"),
                annual_rate=Decimal("0.08"), term_months=12, repayment_method="equal_principal",
                disbursed_on=date(2025, 1, 3), last_closed_date=DAY, accrued_through=DAY)
    session.add(loan)
    session.flush()
    return loan.id


@pytest.fixture
def loans(engine) -> dict[str, int]:
    """Three loans: none with history, one with a snapshot, one with a behaviour score."""
    with Session(engine) as session:
        customer = Customer(external_ref="C-guard", id_number_index="guard",
                            id_number_masked="110101********0000", pii_enc=b"x")
        session.add(customer)
        session.flush()
        ids = {name: _loan(session, customer.id, f"LG-{name}")
               for name in ("bare", "snapshot", "scored")}
        session.add(DelinquencySnapshot(loan_id=ids["snapshot"], as_of=DAY, dpd=3, bucket="M1",
                                        model_score=600, model_pd=0.05))
        session.add(BehaviourScore(loan_id=ids["scored"], as_of=DAY, model_version="v0001",
                                   pd=0.05, score=600, grade="C", reasons=[],
                                   exposure=Decimal("1000.00"), expected_loss=Decimal("50.00")))
        session.commit()
    return ids


@pytest.mark.parametrize("kind", ["snapshot", "scored"])
def test_a_loan_with_history_is_neither_deleted_nor_renumbered(engine, loans, kind):
    loan_id = loans[kind]
    for statement in (delete(Loan).where(Loan.id == loan_id),
                      update(Loan).where(Loan.id == loan_id).values(id=loan_id + 1000)):
        with Session(engine) as session, pytest.raises(IntegrityError, match="has history"):
            session.execute(statement)
            session.flush()
    with Session(engine) as session:
        assert session.get(Loan, loan_id) is not None
        assert session.get(Loan, loan_id + 1000) is None


def test_the_nights_update_and_a_loan_without_history_pass(engine, loans):
    with Session(engine) as session:
        session.execute(update(Loan).where(Loan.id.in_(list(loans.values())))
                        .values(last_closed_date=date(2025, 7, 11)))
        session.execute(update(Loan).where(Loan.id == loans["bare"])
                        .values(id=loans["bare"] + 1000))
        session.execute(update(Loan).where(Loan.id == loans["snapshot"])
                        .values(id=loans["snapshot"]))  # the same id: not a renumbering
        session.commit()
    with Session(engine) as session:
        session.execute(delete(Loan).where(Loan.id == loans["bare"] + 1000))
        session.commit()
        assert session.get(Loan, loans["bare"] + 1000) is None
        assert session.get(Loan, loans["snapshot"]).last_closed_date == date(2025, 7, 11)


def test_the_nights_update_of_the_close_marker_is_hot_on_postgresql(engine, loans):
    """No index reads the columns the night moves, and pages keep room (fillfactor 50): the
    row versions stay on their page, no index entry is added (a HOT update)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("HOT updates and fillfactor are PostgreSQL's")
    from sqlalchemy import text

    with Session(engine) as session:
        options = session.scalar(text("SELECT reloptions FROM pg_class WHERE oid = "
                                      "CAST('loans' AS regclass)"))
        assert "fillfactor=50" in options
        done = session.execute(update(Loan).values(last_closed_date=date(2025, 7, 11),
                                                   accrued_through=date(2025, 7, 11))).rowcount
        hot = session.scalar(text("SELECT pg_stat_get_xact_tuples_hot_updated("
                                  "CAST('loans' AS regclass))"))
        assert done == len(loans) and hot == done


@pytest.mark.parametrize("kind", ["snapshot", "scored"])
def test_no_history_is_stored_for_a_loan_that_does_not_exist(engine, loans, kind):
    from sqlalchemy import func, insert, select

    table = DelinquencySnapshot if kind == "snapshot" else BehaviourScore
    row = ({"as_of": date(2025, 7, 11), "dpd": 0, "bucket": "M0", "model_score": 600,
            "model_pd": 0.05} if kind == "snapshot" else
           {"as_of": date(2025, 7, 11), "model_version": "v0001", "pd": 0.05, "score": 600,
            "grade": "C", "reasons": [], "exposure": Decimal("1000.00"),
            "expected_loss": Decimal("50.00")})
    missing = max(loans.values()) + 999
    # one stray row among good ones refuses the whole statement (checked per statement on PG)
    rows = [{**row, "loan_id": loans["bare"]}, {**row, "loan_id": missing}]
    with Session(engine) as session, pytest.raises(IntegrityError, match="does not exist"):
        session.execute(insert(table), rows)
        session.flush()
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(table).where(
            table.as_of == date(2025, 7, 11))) == 0
        session.execute(insert(table), [{**row, "loan_id": loans["bare"]}])  # a real loan: fine
        session.commit()
