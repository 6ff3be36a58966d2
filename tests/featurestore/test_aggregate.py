"""Distinct-key counts: the bitmap (narrow key ranges) and the sort (wide) agree with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd

from featurestore import aggregate
from featurestore.aggregate import FactIndex, Visible, micros
from featurestore.facts import normalise_facts


def test_distinct_keys_are_counted_once_per_row_either_way(monkeypatch):
    rng = np.random.default_rng(3)
    n = 400
    at = pd.Timestamp("2025-06-01", tz="UTC")
    facts = normalise_facts(pd.DataFrame({
        "customer_id": [f"C{i}" for i in rng.integers(0, 50, n)],
        "source": "pboc", "kind": "inquiry",
        "event_time": at - pd.to_timedelta(rng.integers(1, 90, n), unit="D"),
        "uploaded_at": at - pd.Timedelta(hours=1), "value": np.nan,
        "key": [f"inq-{k}" for k in rng.integers(0, 30, n)],  # repeats within a customer
    }))
    customers = np.array([f"C{i}" for i in range(60)], dtype=object)  # 10 without any fact
    as_of = micros(pd.Series([at] * len(customers)))
    v = Visible.join(FactIndex.build(facts), "pboc", customers, as_of)
    expected = (facts.assign(customer_id=facts["customer_id"].astype(str))
                .groupby("customer_id", observed=True)["key"].nunique()
                .reindex(customers, fill_value=0).to_numpy(float))
    bitmap = v.count_distinct_keys()
    monkeypatch.setattr(aggregate, "BITMAP_CELLS", 0)
    np.testing.assert_array_equal(bitmap, expected)
    np.testing.assert_array_equal(v.count_distinct_keys(), expected)
    assert expected[-10:].sum() == 0 and expected.max() > 1
