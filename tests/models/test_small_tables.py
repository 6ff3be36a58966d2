"""A lender's own small table, end to end as a new user trains it — one test per friction of
issue #20: text targets, bare dtypes, mapping errors with file:line, every row fitted,
portfolio-fitted grades, honest hold-out wording, trained-on rows flagged, the scorecard family
as a first-class model, the family chosen on the folds, and a bounded search."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from models.cli import model as model_cli
from models.data import cv_folds, prepare
from models.errors import BadColumnError, ConfigError, UnknownFeatureError
from models.features import load_mapping
from models.registry import Registry
from models.scoring import GRADES, load_model
from models.train import TrainConfig

MAPPING = """\
target: {column: creditability, bad: [bad]}
columns:
  checking: category
  history: category
  purpose: category
  duration: {dtype: float, direction: 1}
  amount: float
  age: {dtype: float, direction: -1}
"""


def lender_table(n: int = 1000, seed: int = 3) -> pd.DataFrame:
    """German-credit-shaped: text categories and numbers, a good/bad text label, ~30 % bad."""
    rng = np.random.default_rng(seed)
    checking = rng.choice(["none", "< 0", "0-200", ">= 200"], n, p=[0.4, 0.27, 0.27, 0.06])
    history = rng.choice(["critical", "paid", "delay", "all paid"], n, p=[0.3, 0.5, 0.1, 0.1])
    purpose = rng.choice(["car", "tv", "furniture", "business", "education"], n)
    duration = rng.gamma(4, 5, n).round()
    amount = np.exp(rng.normal(8, 0.8, n)).round()
    age = rng.integers(19, 75, n).astype(float)
    logit = (-1.2 + np.select([checking == "none", checking == "< 0", checking == "0-200"],
                              [-1.0, 0.7, 0.4], -0.4)
             + np.select([history == "critical", history == "delay", history == "all paid"],
                         [-0.6, 0.3, 0.8], 0.0)
             + np.where(purpose == "education", 0.5, 0.0)
             + 0.03 * (duration - 20) + 0.25 * (np.log(amount) - 8) - 0.015 * (age - 35))
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"checking": checking, "history": history, "purpose": purpose,
                         "duration": duration, "amount": amount, "age": age,
                         "creditability": np.where(bad, "bad", "good")})


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    d = tmp_path_factory.mktemp("lender")
    csv, mapping = d / "t.csv", d / "map.yaml"
    lender_table().to_csv(csv, index=False)
    mapping.write_text(MAPPING, encoding="utf-8")
    return d, csv, mapping


@pytest.fixture(scope="module")
def trained_cli(table):
    """``chedaitong model train t.csv --mapping map.yaml --time none`` as a new user runs it."""
    d, csv, mapping = table
    reg = d / "registry"
    r = CliRunner().invoke(model_cli, ["train", str(csv), "--mapping", str(mapping),
                                       "--time", "none", "--registry", str(reg),
                                       "--threads", "1"])
    assert r.exit_code == 0, r.output + r.stderr
    return reg, Registry(reg).versions()[-1], r.output


def test_text_target_with_bad_labels_trains(trained_cli, table):
    reg, version, out = trained_cli
    feats = json.loads((reg / version / "features.json").read_text())
    assert feats["target"] == "creditability" and feats["bad"] == ["bad"]
    # without saying which label is bad, the refusal says how to (CLI: one line, exit 1)
    d, csv, mapping = table
    plain = d / "plain.yaml"
    plain.write_text(MAPPING.replace("{column: creditability, bad: [bad]}", "creditability"))
    r = CliRunner().invoke(model_cli, ["train", str(csv), "--mapping", str(plain), "--time",
                                       "none", "--registry", str(d / "r2")])
    assert r.exit_code == 1 and "must be 0/1 (1 = bad); found ['bad', 'good']" in r.stderr
    assert "target: {column: creditability, bad: [bad]}" in r.stderr and "--bad" in r.stderr
    # --bad on the command line works like the mapping's bad: list
    r = CliRunner().invoke(model_cli, ["train", str(csv), "--mapping", str(plain), "--bad",
                                       "bad", "--time", "none", "--family", "scorecard",
                                       "--no-report", "--registry", str(d / "r3")])
    assert r.exit_code == 0, r.output + r.stderr
    frame = lender_table()
    with pytest.raises(BadColumnError, match="none of the bad labels"):
        prepare(frame, target="creditability", bad=["Bad"], mapping=load_mapping(mapping),
                time="")


def test_bare_dtype_declares_a_new_feature(table):
    m = load_mapping(table[2])
    purpose = m.columns["purpose"]
    assert (purpose.name, purpose.dtype, purpose.in_catalog) == ("purpose", "category", False)
    assert m.columns["amount"].dtype == "float" and m.columns["duration"].direction == 1
    assert m.target == "creditability" and m.bad == ("bad",)


@pytest.mark.parametrize("text, line, match", [
    ("columns:\n  x: not_a_feature\n", 2, "neither a feature in the catalog nor a dtype"),
    ("columns:\n  a: float\n  purpose: {}\n", 3, "needs a catalog feature name or a dtype"),
    ("columns:\n  x:\n    dtype: text\n", 2, "dtype must be one of"),
    ("columns:\n  收入: {dtype: float}\n", 2, "name"),
    ("columns:\n  a: tp_score\n  b: tp_score\n", 3, "several columns map to 'tp_score'"),
    ("target: {column: y, bad: []}\ncolumns:\n  a: float\n", 1, "bad"),
    ("target: {col: y}\ncolumns:\n  a: float\n", 1, "target needs column"),
    ("colums:\n  a: float\n", 1, "expected a top-level 'columns'"),
    ("columns:\n  a: float\n  a: int\n", 3, "duplicate key"),
    ("columns:\n  a: [float\n", 3, "YAML syntax error"),
    ("columns:\n  a: {dtype: float, direction: 2}\n", 2, "direction"),
    ("columns:\n  a: {dtype: float, labels: x}\n", 2, "unknown keys"),
])
def test_every_mapping_error_names_file_and_line(tmp_path, text, line, match):
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises((ConfigError, UnknownFeatureError), match=match) as err:
        load_mapping(path)
    assert str(err.value).startswith(f"mapping file {path}:{line}:"), str(err.value)
    assert "map it in a --mapping file" not in str(err.value)


def test_every_labelled_row_before_the_test_part_is_fitted(trained_cli):
    reg, version, out = trained_cli
    metrics = json.loads((reg / version / "metrics.json").read_text())
    sp = metrics["split"]
    assert sp["train"]["rows"] == 800 and sp["test"]["rows"] == 200
    assert "valid" not in sp  # nothing is held back for early stopping or calibration
    cv = metrics["cv"]
    assert cv["folds"] == 5 and "stratified" in cv["method"]
    assert cv["out_of_fold"]["rows"] == 800  # calibration saw every fitted row out of fold
    params = json.loads((reg / version / "params.json").read_text())
    if params["family"] == "lightgbm":  # defaults scaled to 800 rows, not 100k
        assert params["num_leaves"] == 8 and params["min_data_in_leaf"] == 10


def test_time_folds_only_look_forward(frame):
    prepared = prepare(frame)
    rows = np.arange(4800)
    folds, how = cv_folds(prepared, rows, 4)
    t = prepared.frame["applied_at"].to_numpy()
    assert "forward" in how and len(folds) == 4
    for fit_rows, held in folds:
        assert t[fit_rows].max() < t[held].min()
    assert len(np.unique(np.concatenate([h for _, h in folds]))) == sum(len(h) for _, h in folds)


def test_grades_are_fitted_to_a_high_bad_rate_portfolio(trained_cli):
    reg, version, out = trained_cli
    card = json.loads((reg / version / "scorecard.json").read_text())
    g = card["grading"]
    # ~30 % bad: the standard PD bands would put most applicants in E
    assert g["method"] == "quantile" and "standard PD bands would put" in g["why"]
    assert max(g["shares"]) < 0.3
    mins = [b["min_score"] for b in card["bands"][:-1]]
    assert mins == sorted(mins, reverse=True)
    report = (reg / version / "report" / "report.md").read_text()
    assert "score quantiles at 20%, 40%, 60%, 80%" in report
    model = load_model(version, reg)
    scored = model.score_frame(pd.DataFrame(prepare(
        lender_table(400, seed=9), target="creditability", bad=["bad"],
        mapping=load_mapping(reg.parent / "map.yaml"), time="", min_rows=1).frame))
    shares = scored["risk_grade"].value_counts(normalize=True)
    assert set(scored["risk_grade"].astype(str)) <= set(GRADES)  # what the price grid reads
    assert shares.max() < 0.45


def test_pd_grades_can_be_requested(table, tmp_path):
    _, csv, mapping = table
    r = CliRunner().invoke(model_cli, ["train", str(csv), "--mapping", str(mapping), "--time",
                                       "none", "--family", "scorecard", "--grades",
                                       "pd:5,12.5,25,50", "--no-report", "--registry",
                                       str(tmp_path)])
    assert r.exit_code == 0, r.output + r.stderr
    card = json.loads((tmp_path / "v0001" / "scorecard.json").read_text())
    assert card["grading"]["method"] == "pd" and card["grading"]["cutoffs"] == [
        0.05, 0.125, 0.25, 0.5]
    model = load_model("v0001", tmp_path)
    lo = model.scorecard.pd_at(card["bands"][0]["min_score"])
    assert lo == pytest.approx(0.05, abs=0.003)


def test_report_says_hold_out_not_out_of_time(trained_cli):
    reg, version, out = trained_cli
    assert "hold-out test part" in out and "hold-out AUC" in out and "OOT" not in out
    data = json.loads((reg / version / "report" / "report.json").read_text())
    assert data["data"]["label"] == "hold-out test part"
    md = (reg / version / "report" / "report.md").read_text()
    assert "Training report (hold-out test)" in md and "out-of-time test)" not in md
    assert "not an out-of-time test" in md


def test_evaluate_flags_rows_the_model_trained_on_without_a_time_column(trained_cli, table):
    reg, version, _ = trained_cli
    _, csv, _ = table
    r = CliRunner().invoke(model_cli, ["evaluate", version, "--data", str(csv), "--out",
                                       str(reg / "ev"), "--registry", str(reg)])
    assert r.exit_code == 0, r.output + r.stderr
    assert "warning: 800 of 1,000 rows were in the model's training data" in r.output
    data = json.loads((reg / "ev" / "report.json").read_text())
    assert data["data"]["rows_trained_on"] == 800
    assert "these metrics are optimistic" in (reg / "ev" / "report.md").read_text()
    # fresh applicants from the same portfolio: no warning
    fresh = reg / "fresh.csv"
    lender_table(300, seed=77).to_csv(fresh, index=False)
    r = CliRunner().invoke(model_cli, ["evaluate", version, "--data", str(fresh), "--out",
                                       str(reg / "ev2"), "--registry", str(reg)])
    assert r.exit_code == 0 and "warning" not in r.output


def test_scorecard_family_is_a_first_class_model(table, tmp_path, frame):
    _, csv, mapping = table
    r = CliRunner().invoke(model_cli, ["train", str(csv), "--mapping", str(mapping), "--time",
                                       "none", "--family", "scorecard", "--registry",
                                       str(tmp_path)])
    assert r.exit_code == 0, r.output + r.stderr
    path = tmp_path / "v0001"
    manifest = json.loads((path / "manifest.json").read_text())["files"]
    assert "woe_model.json" in manifest and "model.txt" not in manifest
    model = load_model("v0001", tmp_path)
    assert model.family == "scorecard" and model.booster is None
    risky = {"checking": "< 0", "history": "all paid", "purpose": "education",
             "duration": 60, "amount": 20000, "age": 21}
    safe = {"checking": "none", "history": "critical", "purpose": "car", "duration": 6,
            "amount": 1500, "age": 50}
    s_risky, s_safe = model.score(risky), model.score(safe)
    assert s_risky.pd > s_safe.pd and s_risky.score < s_safe.score
    assert s_risky.reasons and s_risky.reasons[0].contribution > 0
    assert {x.feature for x in s_risky.reasons} <= set(model.feature_names)
    # contributions are exact: they add up to the margin
    x = model.encode_row(risky)
    woe = model.engine.woe
    assert woe.expected_value + model.contributions(x).sum() == pytest.approx(s_risky.margin)
    # batch equals single-row
    batch = model.score_frame(pd.DataFrame([risky, safe]).astype(
        {"checking": "string", "history": "string", "purpose": "string"}))
    assert list(batch["model_score"]) == [s_risky.score, s_safe.score]
    # the points table reproduces the score: base + one bin per feature
    report = json.loads((path / "report" / "report.json").read_text())
    pts = report["points"]
    by_bin = {(b["feature"], b["bin"]): b["points"] for b in pts["bins"]}
    assert len({f for f, _ in by_bin}) == 6 and "Scorecard points" in (
        path / "report" / "report.md").read_text()
    total = pts["base_points"] + sum(
        -model.scorecard.factor * model.calibrator.a * c for c in woe.coef_ * woe.woe(x)[0])
    assert round(total) == s_risky.score
    # a scorecard on catalog features is promotable like any version
    cat_reg = tmp_path / "catalog"
    r = CliRunner().invoke(model_cli, ["train", str(_catalog_csv(frame, tmp_path)),
                                       "--features", "tp_score,bureau_inquiries_3m,lease_type",
                                       "--family", "scorecard", "--no-report", "--registry",
                                       str(cat_reg)])
    assert r.exit_code == 0, r.output + r.stderr
    Registry(cat_reg).promote("v0001")
    from models.scoring import load_champion

    champ = load_champion(cat_reg)
    assert champ.family == "scorecard" and champ.score(frame.iloc[0].to_dict()).grade in GRADES


def _catalog_csv(frame: pd.DataFrame, d) -> object:
    path = d / "catalog.csv"
    frame[["applied_at", "tp_score", "bureau_inquiries_3m", "lease_type", "bad_12m"]].to_csv(
        path, index=False)
    return path


def test_auto_keeps_the_family_with_the_better_fold_auc(trained_cli):
    reg, version, out = trained_cli
    metrics = json.loads((reg / version / "metrics.json").read_text())
    fams = metrics["cv"]["families"]
    assert set(fams) == {"lightgbm", "scorecard", "blend"}
    single = max(("lightgbm", "scorecard"), key=lambda k: fams[k]["auc_mean"])
    best = "blend" if fams["blend"]["auc_mean"] > fams[single]["auc_mean"] + 0.001 else single
    assert metrics["family"] == metrics["cv"]["chosen"] == best
    assert len(fams["lightgbm"]["fold_auc"]) == len(fams["scorecard"]["fold_auc"]) == 5
    assert f"→ {best}" in out and "Model family by cross-validation" in (
        reg / version / "report" / "report.md").read_text()


def test_blend_scores_with_exact_reasons(table, tmp_path):
    _, csv, mapping = table
    r = CliRunner().invoke(model_cli, ["train", str(csv), "--mapping", str(mapping), "--time",
                                       "none", "--family", "blend", "--no-report",
                                       "--threads", "1", "--registry", str(tmp_path)])
    assert r.exit_code == 0, r.output + r.stderr
    files = json.loads((tmp_path / "v0001" / "manifest.json").read_text())["files"]
    assert {"model.txt", "woe_model.json", "blend.json"} <= set(files)
    model = load_model("v0001", tmp_path)
    assert model.family == "blend" and 0 < model.engine.weight < 1
    row = {"checking": "< 0", "history": "all paid", "purpose": "education",
           "duration": 48, "amount": 9000, "age": 23}
    x = model.encode_row(row)
    lgb_part, woe_part = model.engine.parts
    w = model.engine.weight
    expected = w * lgb_part.explainer.expected_value + (1 - w) * woe_part.woe.expected_value
    s = model.score(row)
    assert expected + model.contributions(x).sum() == pytest.approx(s.margin, abs=1e-9)
    assert s.reasons and s.reasons[0].contribution > 0
    assert model.score_frame(prepare(lender_table(50, seed=5), target="creditability",
                                     bad=["bad"], mapping=load_mapping(mapping), time="",
                                     min_rows=1, min_per_class=1).frame)["risk_grade"].isin(
                                         GRADES).all()
    (tmp_path / "v0001" / "blend.json").chmod(0o644)
    (tmp_path / "v0001" / "blend.json").write_text('{"weight_lightgbm": 0.5}')
    from models.errors import CorruptVersionError

    with pytest.raises(CorruptVersionError, match="blend.json does not match"):
        load_model("v0001", tmp_path)


def test_bounded_tuning_is_reported_in_params(table, tmp_path):
    _, csv, mapping = table
    r = CliRunner().invoke(model_cli, ["train", str(csv), "--mapping", str(mapping), "--time",
                                       "none", "--family", "lightgbm", "--tune", "3s",
                                       "--no-report", "--no-baseline", "--threads", "1",
                                       "--registry", str(tmp_path)])
    assert r.exit_code == 0, r.output + r.stderr
    params = json.loads((tmp_path / "v0001" / "params.json").read_text())
    t = params["tuning"]
    assert t["library"] == "optuna" and t["trials"] >= 1 and t["seconds"] < 3 + 10
    assert t["best_auc"] >= t["default_auc"]
    assert "optuna" in params["libraries"]


def test_config_refusals():
    with pytest.raises(ConfigError, match="family"):
        TrainConfig(family="xgboost")
    with pytest.raises(ConfigError, match="folds"):
        TrainConfig(folds=1)
