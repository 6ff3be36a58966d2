"""The collector's worklist over a booked portfolio: only overdue loans, ordered by expected
loss (outstanding principal × PD) then DPD, and the nightly score moves a loan up."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from chedaitong.db.servicing import DelinquencySnapshot
from decisioning.collections import worklist

from .conftest import AS_OF


def test_overdue_loans_ordered_by_expected_loss(engine, portfolio):
    with Session(engine) as s:
        work = worklist(session=s, today=AS_OF)
        ids = [w["loan_id"] for w in work]
        on_time = set(portfolio[0::3])
        assert ids and not on_time & set(ids)
        assert set(portfolio[1::3]) <= set(ids)  # stopped after two installments
        keys = [(-w["expected_loss"], -w["dpd"], w["loan_id"]) for w in work]
        assert keys == sorted(keys)
        assert all("*" in w["customer_id_number_masked"] for w in work)
        for w in work:
            assert w["expected_loss"] == (w["outstanding_principal"] * Decimal(str(w["pd"]))
                                          ).quantize(Decimal("0.01"))
        last = work[-1]["loan_id"]
        s.add(DelinquencySnapshot(loan_id=last, as_of=AS_OF, dpd=work[-1]["dpd"], bucket="M1",
                                  model_score=400, model_pd=0.99))
        s.commit()
        assert worklist(session=s, today=AS_OF)[0]["loan_id"] == last
