"""A synthetic loan-month snapshot frame (the behaviour score's layout) with a known signal.

Each row is one active loan at a month start: a latent "trouble" drives the post-loan evidence
in its catalog direction (late and partial payments, a tracker going dark, an uninstalled app,
new borrowing), and the target `bad_60dpd_6m` follows the same latent risk. For tests and
benchmarks that need a behaviour model without generating a world; the quality figures are
measured on a generated world (`bench/behaviour_quality.py`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def behaviour_frame(n: int = 4000, seed: int = 0, months: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    trouble = rng.normal(0, 1, n)
    app_score = np.round(600 - 40 * (0.5 * trouble + rng.normal(0, 1, n)))
    late = rng.random(n) < 1 / (1 + np.exp(-(trouble * 1.6 - 2.2)))
    dpd = np.where(late, rng.integers(1, 59, n), 0).astype(float)
    worst = np.maximum(dpd, np.where(rng.random(n) < 0.2, rng.integers(0, 40, n), 0))
    mob = rng.integers(1, 36, n).astype(float)
    on_time = np.clip(1 - 0.15 * np.maximum(trouble + rng.normal(0, 0.7, n), 0), 0, 1)
    dark = np.clip(np.round(20 + 3 * trouble + rng.normal(0, 3, n)), 0, 30)
    uninstalled = (rng.random(n) < 1 / (1 + np.exp(-(trouble * 1.5 - 3.5)))).astype(float)
    frame = pd.DataFrame({
        "days_past_due": dpd,
        "worst_dpd": worst,
        "missed_payments_3m": np.clip(np.round(np.maximum(trouble, 0) + rng.normal(0, .5, n)),
                                      0, 3),
        "months_on_book": mob,
        "vehicle_gps_offline_days_30d": dark,
        "vehicle_out_of_province_share_30d": np.clip(rng.beta(1, 12, n) + 0.05 * trouble, 0, 1),
        "app_uninstalled": uninstalled,
        "new_inquiries_since_origination": rng.poisson(np.exp(0.4 * trouble - 1)).astype(float),
        "dpd_change_30d": np.where(late, dpd - rng.integers(0, 30, n).clip(max=dpd), 0.0),
        "on_time_share": on_time,
        "days_since_last_payment": np.round(np.clip(15 + 10 * trouble + rng.normal(0, 8, n),
                                                    0, 120)),
        "vehicle_gps_offline_change_30d": np.round(2 * trouble + rng.normal(0, 3, n)),
        "app_last_upload_days": np.round(np.clip(np.exp(1.5 + 0.6 * trouble
                                                        + rng.normal(0, 0.6, n)), 0, 400)),
        "sms_collection_since_loan": rng.poisson(np.exp(trouble - 1.5)).astype(float),
        "bureau_new_open_loans": rng.poisson(np.exp(0.3 * trouble - 0.3)).astype(float),
        "bureau_new_overdue": (rng.random(n) < 1 / (1 + np.exp(-(trouble - 3)))).astype(float),
        "application_score": app_score,
    })
    logit = -3.6 + 1.3 * trouble + 0.03 * dpd
    frame["bad_60dpd_6m"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    start = pd.Timestamp("2023-01-01", tz="UTC")
    frame["snapshot_at"] = [start + pd.DateOffset(months=int(m))
                            for m in rng.integers(0, months, n)]
    frame["loan_id"] = [f"L{i:06d}" for i in range(n)]
    return frame.sort_values("snapshot_at", kind="stable").reset_index(drop=True)
