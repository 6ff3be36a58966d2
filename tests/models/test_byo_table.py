"""An analyst's own CSV, described by a column mapping, trains, scores and evaluates."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from models.cli import model as model_cli
from models.errors import ConfigError, PromotionRefused, UnknownFeatureError
from models.features import load_mapping
from models.registry import Registry
from models.scoring import load_model

MAPPING = """\
target: defaulted
time: app_date
columns:
  credit_score_3p: tp_score
  inq3m: bureau_inquiries_3m
  product: lease_type
  income: monthly_income
  region_risk:
    dtype: float
    direction: 1
    label_zh: 区域风险指数
    label_en: Regional risk index
  渠道:
    name: channel_code
    dtype: category
"""


@pytest.fixture(scope="module")
def byo(tmp_path_factory, frame):
    """(folder, csv path, mapping path) of a table with its own names and two new features."""
    d = tmp_path_factory.mktemp("byo")
    rng = np.random.default_rng(5)
    table = frame[["tp_score", "bureau_inquiries_3m", "lease_type", "monthly_income"]].rename(
        columns={"tp_score": "credit_score_3p", "bureau_inquiries_3m": "inq3m",
                 "lease_type": "product", "monthly_income": "income"})
    # a new feature with real signal (the true log-odds, noised) and a new categorical one
    logit = np.log(frame["true_pd"] / (1 - frame["true_pd"]))
    table["region_risk"] = logit + rng.normal(0, 0.8, len(frame))
    table["渠道"] = np.where(frame["dealer_channel"].cat.codes.to_numpy() == 2, "sub", "store")
    table["defaulted"] = frame["bad_12m"]
    table["app_date"] = frame["applied_at"].dt.strftime("%Y-%m-%d")
    csv = d / "loans.csv"
    table.to_csv(csv, index=False)
    mapping = d / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return d, csv, mapping


def test_byo_csv_with_mapping_trains_scores_and_evaluates(byo):
    d, csv, mapping = byo
    reg = d / "registry"
    r = CliRunner().invoke(model_cli, [
        "train", str(csv), "--mapping", str(mapping), "--registry", str(reg),
        "--learning-rate", "0.1", "--max-rounds", "200", "--early-stopping", "20", "--no-report",
        "--threads", "1",
    ])
    assert r.exit_code == 0, r.output + r.stderr
    assert "time:app_date, out-of-time test part" in r.output
    assert "WOE scorecard baseline OOT AUC" in r.output
    version = Registry(reg).versions()[-1]
    m = load_model(version, reg)
    assert m.feature_names == ("tp_score", "bureau_inquiries_3m", "lease_type",
                               "monthly_income", "region_risk", "channel_code")
    assert m.specs[-1].categories == ("store", "sub") and not m.specs[-1].in_catalog
    risky = m.score({"tp_score": 420, "bureau_inquiries_3m": 9, "lease_type": "leaseback",
                     "monthly_income": 4000, "region_risk": 1.5, "channel_code": "sub"})
    safe = m.score({"tp_score": 820, "bureau_inquiries_3m": 0, "lease_type": "direct_lease",
                    "monthly_income": 30000, "region_risk": -6.0, "channel_code": "store"})
    assert risky.pd > safe.pd and risky.score < safe.score
    texts = {x.feature: x.text_en for x in risky.reasons}
    assert texts.get("region_risk") == "Regional risk index: 1.50"
    # promotion is refused: the feature store cannot provide region_risk / channel_code
    with pytest.raises(PromotionRefused, match="not in the feature catalog"):
        Registry(reg).promote(version, force=True)
    # evaluate reads the same raw CSV: mapped columns are renamed as at training
    out = d / "report"
    r = CliRunner().invoke(model_cli, ["evaluate", version, "--data", str(csv), "--out", str(out),
                                       "--registry", str(reg)])
    assert r.exit_code == 0, r.output + r.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["baseline"]["auc"] > 0.5 and report["data"]["rows_before_oot"] > 0


def test_features_option_selects_mapped_names(byo, frame):
    d, csv, mapping = byo
    r = CliRunner().invoke(model_cli, [
        "train", str(csv), "--mapping", str(mapping), "--features", "tp_score,region_risk",
        "--registry", str(d / "reg2"), "--learning-rate", "0.1", "--max-rounds", "100",
        "--no-baseline", "--no-report", "--threads", "1",
    ])
    assert r.exit_code == 0, r.output + r.stderr
    m = load_model("v0001", d / "reg2")
    assert m.feature_names == ("tp_score", "region_risk")


def test_mapping_errors(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("columns:\n  x: not_a_feature\n")
    with pytest.raises(UnknownFeatureError, match="not_a_feature"):
        load_mapping(bad)
    bad.write_text("columns:\n  x: {dtype: text}\n")
    with pytest.raises(ConfigError, match="dtype"):
        load_mapping(bad)
    bad.write_text("columns:\n  收入: {dtype: float}\n")
    with pytest.raises(ConfigError, match="name"):
        load_mapping(bad)
    bad.write_text("columns:\n  a: tp_score\n  b: tp_score\n")
    with pytest.raises(ConfigError, match="several columns"):
        load_mapping(bad)
