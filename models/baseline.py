"""The benchmark every model report compares with: a WOE-binned logistic scorecard.

optbinning's ``BinningProcess`` finds the bins on the training part; the fitted bins are then
exported to plain JSON (split points or category groups + event counts per bin) and applied
by our own transform, so the stored baseline never depends on pickles or library internals.
The transform reproduces optbinning's ``metric="woe"`` with empirical WoE for missing values
(tests check it): WoE = ln(%goods / %bads) per bin, 0 for a bin with no goods or no bads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.features import FeatureSpec


def _woe(n_nonevent: np.ndarray, n_event: np.ndarray) -> np.ndarray:
    tot_ne, tot_e = n_nonevent.sum(), n_event.sum()
    out = np.zeros(len(n_event))
    ok = (n_event > 0) & (n_nonevent > 0)
    out[ok] = np.log((n_nonevent[ok] / tot_ne) / (n_event[ok] / tot_e))
    return out


class WoeScorecard:
    """WOE bins per feature + L2 logistic regression. ``fit(X, y)`` with X a DataFrame of the
    specs' columns (numeric floats with NaN, categories as Categorical) and y 0/1 (n,);
    ``predict_proba(X)`` → PD, shape (n,)."""

    def __init__(self, specs: Sequence[FeatureSpec], C: float = 1.0, n_jobs: int = 1):
        self.specs = list(specs)
        self.C = C
        self.n_jobs = n_jobs
        self.bins_: dict[str, dict[str, Any]] = {}
        self.coef_: np.ndarray = np.zeros(0)
        self.intercept_: float = 0.0

    @staticmethod
    def _column(X: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
        col = X[spec.name]
        if spec.dtype == "category":
            return col.astype("string").astype(object).where(col.notna(), np.nan).to_numpy()
        return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> WoeScorecard:
        import warnings

        from optbinning import BinningProcess
        from sklearn.linear_model import LogisticRegression

        names = [s.name for s in self.specs]
        cats = [s.name for s in self.specs if s.dtype == "category"]
        data = pd.DataFrame({s.name: self._column(X, s) for s in self.specs})
        bp = BinningProcess(names, categorical_variables=cats or None, n_jobs=self.n_jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bp.fit(data, np.asarray(y))
        for spec in self.specs:
            optb = bp.get_binned_variable(spec.name)
            d = optb.to_dict()
            ne, ev = np.asarray(d["n_nonevent"], float), np.asarray(d["n_event"], float)
            entry: dict[str, Any] = {"dtype": d["dtype"]}
            n_bins = len(ne) - 2  # counts are [..bins.., special, missing]
            if d["dtype"] == "numerical":
                entry["splits"] = np.asarray(d["splits"], float).tolist()
            else:
                known = list(np.unique(data[spec.name].dropna().astype(str)))
                idx = optb.transform(np.array(known, dtype=object), metric="indices")
                entry["category_bin"] = {c: int(i) for c, i in zip(known, idx, strict=True)}
            woe = _woe(ne, ev)
            entry["woe"] = woe[:n_bins].tolist()
            entry["woe_missing"] = float(woe[-1])
            self.bins_[spec.name] = entry
        W = self.transform(X)
        lr = LogisticRegression(C=self.C, max_iter=2000)
        lr.fit(W, np.asarray(y))
        self.coef_, self.intercept_ = lr.coef_[0].astype(float), float(lr.intercept_[0])
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """WoE matrix, shape (n, len(specs))."""
        out = np.zeros((len(X), len(self.specs)))
        for j, spec in enumerate(self.specs):
            b = self.bins_[spec.name]
            woe = np.asarray(b["woe"], float)
            x = self._column(X, spec)
            if b["dtype"] == "numerical":
                missing = np.isnan(x)
                idx = np.digitize(np.where(missing, 0.0, x), np.asarray(b["splits"], float))
                out[:, j] = np.where(missing, b["woe_missing"], woe[np.minimum(idx, len(woe) - 1)])
            else:
                ser = pd.Series(x, dtype=object)
                k = ser.astype(str).map(b["category_bin"]).to_numpy(dtype=float, na_value=np.nan)
                known = ~np.isnan(k) & (np.nan_to_num(k, nan=-1) < len(woe))
                col = np.zeros(len(x))  # unseen category: WoE of the average (0)
                col[known] = woe[k[known].astype(int)]
                col[ser.isna().to_numpy()] = b["woe_missing"]
                out[:, j] = col
        return out

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.transform(X) @ self.coef_ + self.intercept_

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "woe_logistic",
            "features": [s.name for s in self.specs],
            "bins": self.bins_,
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
            "C": self.C,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], specs: Sequence[FeatureSpec]) -> WoeScorecard:
        by_name = {s.name: s for s in specs}
        model = cls([by_name[n] for n in d["features"]], C=d.get("C", 1.0))
        model.bins_ = d["bins"]
        model.coef_ = np.asarray(d["coef"], float)
        model.intercept_ = float(d["intercept"])
        return model
