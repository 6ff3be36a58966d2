"""`bench/bench_postloan.py` measures a night as production has it, and the features of such a
night do not depend on who else is in the partition."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from decisioning.postloan.inspection import postloan_features
from featurestore.aggregate import FactIndex

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_postloan as bench  # noqa: E402


def _night(n: int = 3000):
    return bench.portfolio(n, 1, np.random.default_rng(5))


def test_the_benchmark_partition_is_a_night_not_a_tidy_one():
    part = _night()
    held = part.loans["customer_id"].value_counts()
    assert 0.07 < (held > 1).mean() < 0.15  # ~10 % of the customers hold 2+ of its loans
    names = part.facts["customer_id"].cat.categories
    assert list(names) == sorted(part.loans["customer_id"].astype(str).unique())  # as text
    codes = FactIndex.build(part.facts).customer_codes(
        part.loans["customer_id"].astype(str).to_numpy(dtype=object))
    assert (np.diff(codes) < 0).mean() > 0.4  # the codes follow neither loans nor ids
    times = part.facts["uploaded_at"].to_numpy()
    assert (times[1:] >= times[:-1]).all()  # in arrival order, not grouped by customer


def test_a_customer_holding_several_loans_gets_each_loan_its_own_features():
    # the night's partition at once = the same loans in layers where each customer holds one
    # loan (first loans, second loans, …), every feature bit for bit
    part = _night()
    whole = postloan_features(part, bench.AS_OF)
    loans = part.loans
    layer = loans.groupby("customer_id").cumcount().to_numpy()
    assert layer.max() == 2
    rows = []
    for k in range(layer.max() + 1):
        ids = loans["loan_id"][layer == k]
        one = replace(part, loans=loans[layer == k],
                      installments=part.installments[part.installments["loan_id"].isin(ids)])
        rows.append(postloan_features(one, bench.AS_OF))
    layered = pd.concat(rows).sort_index()
    pd.testing.assert_frame_equal(whole, layered, check_exact=True)
    assert whole["sms_collection_since_loan"].notna().any()
    assert (whole["bureau_inquiries_90d_on_book"] > 0).any()
