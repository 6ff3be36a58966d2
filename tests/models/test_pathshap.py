"""The batch contributions (`models.pathshap`) are LightGBM's ``pred_contrib`` bit for bit —
not close: the nightly job's reason codes are the top contributions, and a near-tie must
break the same way — for every numerical missing type, deep paths that split one feature
again, NaN, 0.0 and values at or next to a threshold; a categorical split is declined."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from models.engines import BoosterEngine
from models.pathshap import PathShap, Unsupported


def _data(n: int, seed: int, nan: float = 0.0, zeros: float = 0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 3] = rng.integers(0, 5, n)  # few values: many rows on a threshold
    if nan:
        X[rng.random((n, 6)) < nan] = np.nan
    if zeros:
        X[rng.random((n, 6)) < zeros] = 0.0
    signal = np.nan_to_num(X[:, 0]) * 1.5 - np.nan_to_num(X[:, 1]) + 0.4 * np.nan_to_num(X[:, 3])
    y = (signal + rng.normal(size=n) > 0.5).astype(int)
    return X, y


def _booster(X, y, **params) -> lgb.Booster:
    base = {"objective": "binary", "num_leaves": 31, "max_depth": 10, "min_data_in_leaf": 5,
            "learning_rate": 0.2, "verbose": -1, "num_threads": 1, "seed": 1}
    return lgb.train({**base, **params}, lgb.Dataset(X, y), num_boost_round=40)


def _probe(X: np.ndarray, booster: lgb.Booster) -> np.ndarray:
    """Rows that sit on the model's thresholds, just beside them, at 0.0, 1e-36, NaN."""
    rows = [X]
    dump = booster.dump_model()
    thresholds = []

    def visit(node):
        if "leaf_index" in node:
            return
        thresholds.append((node["split_feature"], float(node["threshold"])))
        visit(node["left_child"])
        visit(node["right_child"])

    for tree in dump["tree_info"]:
        visit(tree["tree_structure"])
    base = X[: len(thresholds)].copy()
    for delta in (0.0, np.nextafter):
        b = base.copy()
        for i, (f, t) in enumerate(thresholds[: len(b)]):
            b[i, f] = t if delta == 0.0 else np.nextafter(t, np.inf)
        rows.append(b)
    special = X[:60].copy()
    special[:20, :3] = 0.0
    special[20:40, :3] = 1e-36
    special[40:60, 2:] = np.nan
    rows.append(special)
    return np.concatenate(rows)


@pytest.mark.parametrize(("params", "nan", "zeros"), [
    ({}, 0.1, 0.0),  # missing type NaN
    ({"use_missing": False}, 0.1, 0.0),  # None: NaN read as 0.0
    ({"zero_as_missing": True}, 0.0, 0.15),  # Zero
    ({"num_leaves": 63, "max_depth": 11, "min_data_in_leaf": 2}, 0.05, 0.05),  # deep paths
])
def test_contributions_are_pred_contrib_bit_for_bit(params, nan, zeros):
    X, y = _data(3000, seed=len(params) + int(nan * 100), nan=nan, zeros=zeros)
    booster = _booster(X, y, **params)
    rows = _probe(_data(2000, seed=99, nan=nan, zeros=zeros)[0], booster)
    expected = booster.predict(rows, pred_contrib=True)[:, :-1]
    got = PathShap(booster).contributions(rows, chunk=777)  # several chunks
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)  # not allclose: the same floats


def test_the_engine_uses_it_in_batch_and_declines_categorical_splits():
    X, y = _data(2000, seed=5)
    booster = _booster(X, y)
    engine = BoosterEngine(booster)
    assert engine.batch_explainer is not None  # built: contributions use it from now on
    assert np.array_equal(engine.contributions(X[:500]),
                          booster.predict(X[:500], pred_contrib=True)[:, :-1])
    cat = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1,
                     "min_data_per_group": 5, "cat_smooth": 1},
                    lgb.Dataset(np.c_[X[:, :2], X[:, 3]], y, categorical_feature=[2]),
                    num_boost_round=20)
    assert any(t["tree_structure"].get("decision_type") == "==" or "==" in str(t)
               for t in cat.dump_model()["tree_info"])
    with pytest.raises(Unsupported):
        PathShap(cat)
    engine = BoosterEngine(cat)
    assert engine.batch_explainer is None  # pred_contrib, same values
    Xc = np.c_[X[:300, :2], X[:300, 3]]
    assert np.array_equal(engine.contributions(Xc), cat.predict(Xc, pred_contrib=True)[:, :-1])
