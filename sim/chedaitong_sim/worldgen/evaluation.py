"""Ground-truth evaluation helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def _window(applications: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    t = pd.to_datetime(applications["applied_at"])
    keep = np.ones(len(applications), bool)
    if start is not None:
        keep &= (t >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        keep &= (t < pd.Timestamp(end)).to_numpy()
    return applications.loc[keep]


def oracle_auc(applications: pd.DataFrame, start=None, end=None) -> float:
    """AUC of `true_pd` against the realised `bad_12m` for applications with
    start <= applied_at < end (either bound optional): the best AUC any model could expect.
    Returns NaN when the window holds only one class."""
    w = _window(applications, start, end)
    y = w["bad_12m"].to_numpy()
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, w["true_pd"].to_numpy()))


def bad_rate(applications: pd.DataFrame, start=None, end=None) -> float:
    """Share of applications with bad_12m = 1 in the window."""
    w = _window(applications, start, end)
    return float(w["bad_12m"].mean()) if len(w) else float("nan")
