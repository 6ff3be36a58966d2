"""A tracker that never reported is missing, not 30 days dark: no `gps_alert` from NaN."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from decisioning.postloan.inspection import Partition, inspect_partition, postloan_features
from featurestore.facts import empty_facts

AS_OF = date(2025, 7, 10)


def _partition() -> Partition:
    ids = np.arange(1, 5, dtype=np.int64)
    loans = pd.DataFrame({
        "loan_id": ids, "customer_id": ids + 100,
        "disbursed_on": pd.to_datetime(["2025-01-03"] * 4),
        "rate_ppm": 80_000, "penalty_multiplier": "1.5", "penalty_grace_days": 0,
        "penalty_include_interest": True, "penalty_day_basis": 360,
    })
    due = pd.DatetimeIndex([pd.Timestamp(2025, 1, 3) + pd.DateOffset(months=m)
                            for m in range(1, 13)])
    rows = []
    for lid in ids:
        for k, d in enumerate(due, start=1):
            unpaid = lid % 2 == 0 and d < pd.Timestamp(AS_OF)  # even loans stopped paying
            rows.append((lid, k, d, 300_000 if unpaid else 0, 50_000 if unpaid else 0,
                         pd.NaT if unpaid else d, pd.NaT if unpaid else d))
    inst = pd.DataFrame(rows, columns=["loan_id", "number", "due_date", "unpaid_principal",
                                       "unpaid_interest", "penalty_through", "settled_on"])
    return Partition(loans, inst, empty_facts())


def test_never_reported_tracker_is_missing_and_fires_no_gps_alert(model_root, resources):
    part = _partition()
    feats = postloan_features(part, AS_OF)
    assert feats["vehicle_gps_offline_days_30d"].isna().all()  # not 30
    result = inspect_partition(part, AS_OF, resources)
    assert "gps_alert" not in set(result.actions["action"])
    rules = {r for ids in result.actions["rule_ids"] for r in ids}
    assert not any("GPS" in r or "DARK" in r for r in rules)
    assert set(result.actions["loan_id"]) == {2, 4}  # the overdue loans still get actions


@pytest.fixture
def resources(model_root):
    from pathlib import Path

    from decisioning.postloan.inspection import Resources

    return Resources(str(model_root), str(Path(__file__).resolve().parents[2] / "rules"))
