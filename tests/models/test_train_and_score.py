"""Train → complete version folder → load → deterministic scores; monotone constraints hold."""

from __future__ import annotations

import json
import math
import stat

import numpy as np
import pytest

from models.data import SplitSpec, prepare, split_frame
from models.errors import ConfigError, ScoringInputError
from models.registry import REQUIRED, Registry
from models.scoring import GRADES, load_model
from models.train import TrainConfig, fingerprint, fit


def test_version_folder_is_complete_and_read_only(trained):
    root, version, _ = trained
    path = root / version
    manifest = json.loads((path / "manifest.json").read_text())
    assert set(REQUIRED) <= set(manifest["files"])
    for name in manifest["files"]:
        mode = (path / name).stat().st_mode
        assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), name
    feats = json.loads((path / "features.json").read_text())
    by_name = {f["name"]: f for f in feats["features"]}
    assert by_name["lease_type"]["dtype"] == "category" and by_name["lease_type"]["categories"]
    params = json.loads((path / "params.json").read_text())
    assert params["num_threads"] == 1 and params["seed"] == 42 and params["deterministic"]
    assert params["monotone_constraints_method"] == "intermediate"
    assert json.loads((path / "fingerprint.json").read_text())["sha256"]
    assert Registry(root).versions() == [version]


def test_split_is_by_time_and_stated(trained):
    split = trained[2].split
    assert split["method"] == "time:applied_at" and split["kind"] == "out-of-time"
    assert split["train"]["to"] < split["test_from"] <= split["test"]["from"]
    # every row before the test part is fitted: nothing is held back for early stopping
    assert split["train"]["rows"] + split["test"]["rows"] == 6000
    assert split["train"]["rows"] == 4800
    cv = trained[2].metrics["cv"]  # rounds and calibration come from forward-in-time folds
    assert "forward-in-time" in cv["method"] and cv["folds"] == 5


def test_scores_are_deterministic_and_batch_matches_single(trained, frame):
    root, version, _ = trained
    a, b = load_model(version, root), load_model(version, root)
    rows = frame.head(50)
    batch = a.score_frame(rows)
    for i, rec in enumerate(rows.to_dict("records")):
        s1, s2 = a.score(rec), b.score(rec)
        assert s1 == s2
        assert s1.version == version and s1.grade in GRADES
        assert math.isclose(s1.pd, batch["model_pd"].iloc[i], rel_tol=1e-9)
        assert s1.score == batch["model_score"].iloc[i]
        assert s1.grade == batch["risk_grade"].iloc[i]


def test_retraining_is_reproducible(frame, fast_config, trained):
    prepared = prepare(frame)
    again = fit(prepared, split_frame(prepared, SplitSpec()), fast_config)
    assert again.booster.model_to_string() == trained[2].booster.model_to_string()
    cols = trained[2].fingerprint["columns"]
    assert fingerprint(prepared.frame, cols) == trained[2].fingerprint
    changed = prepared.frame.copy()
    changed.loc[0, "tp_score"] += 1
    assert fingerprint(changed, cols)["sha256"] != trained[2].fingerprint["sha256"]


def test_monotone_constraints_hold(trained, frame):
    root, version, _ = trained
    model = load_model(version, root)
    X = model.encode(frame.sample(400, random_state=0))
    rng = np.random.default_rng(0)
    checked = 0
    for j, spec in enumerate(model.specs):
        if spec.monotone == 0:
            continue
        col = X[:, j][~np.isnan(X[:, j])]
        lo, hi = np.quantile(col, [0.0, 1.0]) if len(col) else (0.0, 1.0)
        a = rng.uniform(lo, hi, len(X))
        b = a + rng.uniform(0, hi - lo + 1, len(X))
        Xa, Xb = X.copy(), X.copy()
        Xa[:, j], Xb[:, j] = a, b
        pa, pb = model.margins(Xa), model.margins(Xb)
        if spec.monotone > 0:
            assert np.all(pb >= pa - 1e-12), spec.name
        else:
            assert np.all(pb <= pa + 1e-12), spec.name
        checked += 1
    assert checked >= 25


def test_misspelled_monotone_method_is_refused():
    with pytest.raises(ConfigError, match="monotone_constraints_method"):
        TrainConfig(monotone_constraints_method="advnaced")


def test_score_one_row_inputs(trained, frame):
    root, version, _ = trained
    model = load_model(version, root)
    rec = frame.iloc[3].to_dict()
    missing_all = model.score({})  # every feature missing is allowed: the model handles NaN
    assert 0 < missing_all.pd < 1
    assert model.score({**rec, "lease_type": None}).pd > 0
    with pytest.raises(ScoringInputError, match="lease_type"):
        model.score({**rec, "lease_type": "rent_to_own"})
    with pytest.raises(ScoringInputError, match="tp_score"):
        model.score({**rec, "tp_score": "high"})
    bools = model.score({**rec, "tp_blacklisted": True})
    assert bools == model.score({**rec, "tp_blacklisted": 1.0})
