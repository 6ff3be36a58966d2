"""Reports: files, the JSON's comparisons with the WOE baseline and the oracle, the metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from models.cli import model as model_cli
from models.evaluate import decile_table, ece, ks, psi
from models.features import default_features, encode_frame
from models.registry import Registry
from models.report import CHARTS
from models.train import TrainConfig, train_and_register
from models.woe import SMALL_BATCH, WoeScorecard


@pytest.fixture(scope="module")
def with_baseline(tmp_path_factory, frame):
    """A version trained with the WOE baseline and its training report."""
    root = tmp_path_factory.mktemp("reg-eval")
    cfg = TrainConfig(learning_rate=0.1, max_rounds=300, early_stopping_rounds=30, num_threads=1)
    version, _ = train_and_register(frame, Registry(root), config=cfg, report=True)
    return root, version


def test_training_report_is_in_the_version_folder(with_baseline):
    root, version = with_baseline
    report = root / version / "report"
    for name in ("report.md", "report.json", *CHARTS):
        assert (report / name).is_file(), name
    data = json.loads((report / "report.json").read_text())
    assert data["data"]["label"] == "out-of-time test part" and data["split"]["test"]["rows"]
    metrics = json.loads((root / version / "metrics.json").read_text())
    assert {"oot", "baseline_oot", "oracle_oot"} <= set(metrics)
    assert metrics["oracle_oot"]["auc"] > metrics["oot"]["auc"] - 0.02


def test_evaluate_writes_report_with_baseline_and_oracle(with_baseline, frame, tmp_path):
    root, version = with_baseline
    path = tmp_path / "frame.parquet"
    frame.to_parquet(path)
    out = tmp_path / "out"
    r = CliRunner().invoke(model_cli, ["evaluate", version, "--data", str(path), "--out",
                                       str(out), "--since", "2024-06-01",
                                       "--registry", str(root)])
    assert r.exit_code == 0, r.output + r.stderr
    assert "WOE scorecard AUC" in r.output and "oracle AUC" in r.output
    for name in ("report.md", "report.json", *CHARTS):
        assert (out / name).stat().st_size > 0, name
    s = json.loads((out / "report.json").read_text())
    for key in ("model", "model_uncalibrated", "baseline", "oracle"):
        assert 0.5 < s[key]["auc"] < 1 and s[key]["ks"] > 0, key
        assert {"gini", "brier", "ece", "logloss"} <= set(s[key])
    assert len(s["calibration"]) == 10 and len(s["deciles"]) == 10
    assert s["deciles"][0]["bad_rate"] > s["deciles"][-1]["bad_rate"]
    assert s["deciles"][-1]["cum_bad_share"] == pytest.approx(1.0)
    assert "score" in s["psi"] and "tp_score" in s["psi"]["features"]
    assert {"lease_type", "dealer_channel", "province"} <= set(s["segments"])
    assert s["importance"]["gain"][0]["feature"] and s["importance"]["shap"][0]["mean_abs_shap"] > 0
    assert [g["grade"] for g in s["grades"]] == list("ABCDE")
    assert s["data"]["from"] >= "2024-06-01"
    md = (out / "report.md").read_text()
    assert "WOE logistic scorecard" in md and "Oracle (true PD)" in md and "roc.png" in md


def test_metric_definitions():
    y = np.array([0, 0, 1, 1])
    assert ks(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert ece(np.array([0, 1] * 50), np.full(100, 0.5)) == pytest.approx(0.0)
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0 and psi([0.9, 0.1], [0.1, 0.9]) > 1
    t = decile_table(np.r_[np.ones(10), np.zeros(90)], np.arange(100))
    assert t[0]["bad_rate"] == 1.0 and t[0]["lift"] == pytest.approx(10.0)


@pytest.mark.filterwarnings("ignore")
def test_woe_transform_matches_optbinning(frame):
    from optbinning import BinningProcess

    specs = default_features()
    train, test = frame.iloc[:4000], frame.iloc[4000:]
    woe = WoeScorecard(specs).fit(train, train["bad_12m"].to_numpy())
    data = {s.name: WoeScorecard._column(train, s) for s in specs}
    test_data = {s.name: WoeScorecard._column(test, s) for s in specs}
    bp = BinningProcess([s.name for s in specs],
                        categorical_variables=[s.name for s in specs if s.dtype == "category"])
    bp.fit(pd.DataFrame(data), train["bad_12m"].to_numpy())
    expected = bp.transform(pd.DataFrame(test_data), metric="woe", metric_missing="empirical")
    np.testing.assert_allclose(woe.transform(test), expected.to_numpy(), atol=1e-12)
    back = WoeScorecard.from_dict(json.loads(json.dumps(woe.to_dict())), specs)
    np.testing.assert_allclose(back.predict_proba(test), woe.predict_proba(test))
    # one row (a decision) goes through the plain-Python path: the same WoE as the batch
    E = encode_frame(test.iloc[:300], specs)
    E[::7, ::3] = np.nan  # missing values
    cats = [j for j, s in enumerate(specs) if s.dtype == "category"]
    E[1::11, cats] = 999  # a category code the bins never saw
    batch = woe.woe(E)
    assert len(E) > SMALL_BATCH  # the per-feature path (on contiguous columns)
    assert batch.flags.c_contiguous  # row-major, as the margins' product has always had it
    rows = np.vstack([woe.woe(E[i:i + 1]) for i in range(len(E))])
    np.testing.assert_array_equal(rows, batch)
    # a few rows (a re-apply grid) are looked up all features at once: the same WoE
    small = np.vstack([woe.woe(E[i:i + 40]) for i in range(0, len(E), 40)])
    np.testing.assert_array_equal(small, batch)
