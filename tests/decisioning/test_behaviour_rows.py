"""The nightly behaviour rows: expected loss in integers is the Decimal rule's, to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from decisioning.postloan.behaviour import frame
from servicing.money import to_cents


def test_expected_loss_is_the_rounding_rule_of_each_loan():
    rng = np.random.default_rng(3)
    n = 5_000
    pd_ = np.r_[rng.random(n - 5), [0.0, 1.0, 0.0000005, 0.1234565, 0.5]]  # 0.5 cents: up
    exposure = np.r_[rng.integers(0, 50_000_000, n - 5), [123_456, 1, 10**11, 200, 1]]
    loans = pd.DataFrame({
        "loan_id": np.arange(n), "behaviour_pd": pd_, "behaviour_score": 600.0,
        "behaviour_grade": "B", "behaviour_reasons": [()] * n, "behaviour_version": "v1",
        "exposure_cents": exposure})
    loans.loc[7, "behaviour_version"] = None  # not scored: no row
    got = frame(loans, date(2026, 1, 1))
    assert len(got) == n - 1 and 7 not in set(got["loan_id"])
    kept = loans.drop(index=7)
    want = [to_cents(Decimal(repr(round(float(p), 6))) * (Decimal(int(e)) / 100))
            for p, e in zip(kept["behaviour_pd"], kept["exposure_cents"], strict=True)]
    assert got["expected_loss"].tolist() == want
    assert got["exposure"].tolist() == [Decimal(int(e)) / 100 for e in kept["exposure_cents"]]
    assert got["pd"].tolist() == [round(float(p), 6) for p in kept["behaviour_pd"]]
