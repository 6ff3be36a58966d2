"""The fast reason path equals LightGBM's pred_contrib (TreeSHAP) and gives the same top reasons."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from models.reasons import TreeShap, top_k_indices
from models.scoring import load_model


@pytest.fixture(scope="module")
def model(trained):
    root, version, _ = trained
    return load_model(version, root)


def _rows(model, frame, n=1500):
    X = model.encode(frame.sample(n, random_state=3))
    cat = [j for j, s in enumerate(model.specs) if s.dtype == "category"]
    X[:40, cat[0]] = np.nan  # missing category
    X[40:60, cat[-1]] = 9  # a code the model never saw
    X[60:80, :] = np.nan  # everything missing
    return X


def test_fast_contributions_equal_pred_contrib(model, frame):
    X = _rows(model, frame)
    exact = model.booster.predict(X, pred_contrib=True)
    fast = np.array([model.explainer.contributions(x) for x in X])
    np.testing.assert_allclose(fast, exact[:, :-1], atol=1e-9)
    assert model.explainer.expected_value == pytest.approx(exact[0, -1], abs=1e-9)
    raw = model.booster.predict(X, raw_score=True)
    np.testing.assert_allclose(model.explainer.expected_value + fast.sum(axis=1), raw, atol=1e-9)


def test_top_reasons_agree_with_pred_contrib_on_every_row(model, frame):
    X = _rows(model, frame)
    exact = model.booster.predict(X, pred_contrib=True)[:, :-1]
    fast = np.array([model.contributions(x) for x in X])
    for k in (1, 4):
        agree = (top_k_indices(fast, k) == top_k_indices(exact, k)).all(axis=1).mean()
        assert agree == 1.0, (k, agree)


def test_reasons_are_adverse_ordered_and_readable(model, frame):
    for rec in frame.sample(50, random_state=4).to_dict("records"):
        s = model.score(rec, n_reasons=4)
        c = [r.contribution for r in s.reasons]
        assert len(c) <= 4 and all(x > 0 for x in c) and c == sorted(c, reverse=True)
        for r in s.reasons:
            spec = model.specs[model.feature_names.index(r.feature)]
            assert r.text_zh.startswith(spec.label_zh + "：")
            assert r.text_en.startswith(spec.label_en + ": ")
    assert model.score(frame.iloc[0].to_dict(), n_reasons=0).reasons == []


def test_tables_cover_numeric_missing_types_and_categorical_splits():
    """A model with NaN-aware, NaN-free ("None" missing type) and categorical splits."""
    rng = np.random.default_rng(0)
    n = 4000
    X = np.column_stack([rng.normal(size=n), rng.normal(size=n), rng.integers(0, 6, n)])
    X[:500, 0] = np.nan  # feature 0 has NaN in training; feature 1 never does
    y = ((np.nan_to_num(X[:, 0]) + X[:, 1] + (X[:, 2] % 3 == 1) + rng.normal(size=n)) > 1)
    params = {"objective": "binary", "verbosity": -1, "num_leaves": 15, "max_depth": 6,
              "min_data_in_leaf": 10, "max_cat_to_onehot": 2, "seed": 1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(X, y.astype(float), categorical_feature=[2]), 40)
    Xt = X[:600].copy()
    Xt[100:150, 1] = np.nan  # NaN where training had none: LightGBM reads it as 0
    Xt[150:200, 2] = np.nan
    Xt[200:220, 2] = 11
    Xt[220:230, 2] = -1
    ts = TreeShap(booster)
    fast = np.array([ts.contributions(x) for x in Xt])
    exact = booster.predict(Xt, pred_contrib=True)[:, :-1]
    np.testing.assert_allclose(fast, exact, atol=1e-9)


def test_single_row_fast_path_is_lightgbms_own_prediction(model, frame):
    """The single-row margin (LightGBM's fast C path, one config per thread) is the very float
    ``booster.predict`` gives, missing values and unseen categories included, in any thread."""
    import threading

    X = _rows(model, frame, n=600)
    booster_engine = getattr(model.engine, "parts", (model.engine,))[0]
    want = model.booster.predict(X, raw_score=True, num_threads=1)
    got: dict[int, list[float]] = {}

    def run(k: int) -> None:
        got[k] = [booster_engine.margin_one(x[None, :]) for x in X]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(3):
        assert got[k] == list(want)
