"""The nightly rules see a collector's promise to pay: an open promise holds tonight's phone
task until the promised day; a promise whose day has passed does not."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from decisioning.postloan.inspection import Partition, inspect_partition, postloan_features
from featurestore.facts import normalise_facts

AS_OF = date(2025, 7, 10)
EPOCH = date(1970, 1, 1)


def _partition() -> Partition:
    """Three loans 12 days past due; customer 101 promised to pay on the 12th (open tonight),
    102 promised for the 8th (passed), 103 promised nothing."""
    ids = np.arange(1, 4, dtype=np.int64)
    loans = pd.DataFrame({
        "loan_id": ids, "customer_id": ids + 100,
        "disbursed_on": pd.to_datetime(["2025-05-28"] * 3),
        "rate_ppm": 80_000, "penalty_multiplier": "1.5", "penalty_grace_days": 0,
        "penalty_include_interest": True, "penalty_day_basis": 360,
    })
    rows = [(lid, 1, pd.Timestamp("2025-06-28"), 300_000, 50_000, pd.NaT, pd.NaT)
            for lid in ids]
    inst = pd.DataFrame(rows, columns=["loan_id", "number", "due_date", "unpaid_principal",
                                       "unpaid_interest", "penalty_through", "settled_on"])
    made = pd.Timestamp("2025-07-09T07:00:00Z")  # recorded yesterday, seen tonight
    facts = normalise_facts(pd.DataFrame({
        "customer_id": ["101", "102"], "source": "collections", "kind": "promise_to_pay",
        "event_time": [made, made], "uploaded_at": [made, made],
        "value": [float((date(2025, 7, 12) - EPOCH).days),
                  float((date(2025, 7, 8) - EPOCH).days)],
        "key": [None, None]}))
    return Partition(loans, inst, facts)


def test_an_open_promise_holds_the_phone_task_until_its_day(resources):
    part = _partition()
    feats = postloan_features(part, AS_OF)
    assert feats["promise_to_pay_open"].tolist() == [1.0, 0.0, 0.0]
    result = inspect_partition(part, AS_OF, resources)
    calls = set(result.actions.loc[result.actions["action"] == "phone_task", "loan_id"])
    assert calls == {2, 3}
    assert set(result.loans["dpd"]) == {12}  # the promise changes the action, not the ledger


def test_a_promise_made_after_the_run_is_not_seen(resources):
    part = _partition()
    late = part.facts.assign(event_time=pd.Timestamp("2025-07-10T09:00:00Z"),
                             uploaded_at=pd.Timestamp("2025-07-10T09:00:00Z"))
    part = Partition(part.loans, part.installments, normalise_facts(late))
    assert postloan_features(part, AS_OF)["promise_to_pay_open"].tolist() == [0.0, 0.0, 0.0]


@pytest.fixture
def resources(model_root):
    from pathlib import Path

    from decisioning.postloan.inspection import Resources

    return Resources(str(model_root), str(Path(__file__).resolve().parents[2] / "rules"))
