"""Bad training tables are refused before training: typed exceptions, one-line CLI errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from models.cli import model as model_cli
from models.data import MIN_ROWS, SplitSpec, prepare
from models.errors import (
    BadColumnError,
    ConfigError,
    ConstantTargetError,
    MissingTargetError,
    TooFewRowsError,
    UnknownFeatureError,
)
from models.registry import Registry
from models.train import train_and_register

FEATURES = ["tp_score", "bureau_inquiries_3m", "lease_type"]


def _broken(frame, case):
    df = frame.copy()
    if case == "missing_target":
        return df.drop(columns="bad_12m"), {}, MissingTargetError
    if case == "constant_target":
        df["bad_12m"] = 0
        return df, {}, ConstantTargetError
    if case == "unknown_feature":
        df["my_score"] = 1.0
        return df, {"features": ["tp_score", "my_score"]}, UnknownFeatureError
    if case == "too_few_rows":
        return df.head(MIN_ROWS - 1), {}, TooFewRowsError
    if case == "non_binary_target":
        df.loc[5, "bad_12m"] = 2
        return df, {}, BadColumnError
    if case == "missing_feature_column":
        return df.drop(columns="tp_score"), {}, BadColumnError
    if case == "unknown_category":
        df["lease_type"] = df["lease_type"].astype(str)
        df.loc[3, "lease_type"] = "rent_to_own"
        return df, {}, BadColumnError
    if case == "text_in_numeric":
        df["tp_score"] = df["tp_score"].astype(object)
        df.loc[3, "tp_score"] = "high"
        return df, {}, BadColumnError
    if case in ("infinite_in_numeric", "beyond_float32"):  # reads as a number; fit raised
        df["tp_score"] = df["tp_score"].astype(float)
        df.loc[3, "tp_score"] = float("inf") if case == "infinite_in_numeric" else 1e39
        return df, {}, BadColumnError
    raise AssertionError(case)


CASES = ["missing_target", "constant_target", "unknown_feature", "too_few_rows",
         "non_binary_target", "missing_feature_column", "unknown_category", "text_in_numeric",
         "infinite_in_numeric", "beyond_float32"]


@pytest.mark.parametrize("case", CASES)
def test_bad_tables_raise_typed_errors_and_register_nothing(frame, tmp_path, case, fast_config):
    df, kwargs, error = _broken(frame, case)
    reg = Registry(tmp_path)
    with pytest.raises(error):
        train_and_register(df, reg, config=fast_config, report=False, **kwargs)
    assert reg.versions() == []


@pytest.mark.parametrize("case", ["missing_target", "constant_target", "unknown_feature",
                                  "too_few_rows", "infinite_in_numeric"])
def test_cli_refuses_with_one_line(frame, tmp_path, case):
    df, kwargs, _ = _broken(frame, case)
    path = tmp_path / "table.csv"
    df.to_csv(path, index=False)
    args = ["train", str(path), "--registry", str(tmp_path / "reg")]
    if "features" in kwargs:
        args += ["--features", ",".join(kwargs["features"])]
    r = CliRunner().invoke(model_cli, args)
    assert r.exit_code == 1, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert not (tmp_path / "reg" / "v0001").exists()


def test_split_part_without_bads_is_refused(frame, fast_config, tmp_path):
    df = frame.copy()
    late = df["applied_at"] >= df["applied_at"].quantile(0.75)
    df.loc[late, "bad_12m"] = 0  # the out-of-time part would have no bads
    with pytest.raises(ConstantTargetError, match="test part"):
        train_and_register(df, Registry(tmp_path), config=fast_config, report=False)


def test_unlabelled_rows_are_dropped_not_refused(frame):
    df = frame.copy().astype({"bad_12m": float})
    df.loc[:99, "bad_12m"] = float("nan")
    prepared = prepare(df, features=FEATURES)
    assert prepared.dropped_unlabelled == 100 and len(prepared.frame) == len(df) - 100


def test_bad_options_are_refused(frame, tmp_path):
    r = CliRunner().invoke(model_cli, ["train", str(tmp_path / "nope.csv"),
                                       "--registry", str(tmp_path)])
    assert r.exit_code == 1 and "does not exist" in r.stderr
    path = tmp_path / "t.csv"
    frame.head(600).to_csv(path, index=False)
    for extra in (["--monotone-method", "advnced"], ["--test-fraction", "1.5"],
                  ["--test-from", "yesterday-ish"], ["--calibration", "beta"],
                  ["--tune", "soon"], ["--grades", "pd:1,2"], ["--folds", "1"]):
        r = CliRunner().invoke(model_cli, ["train", str(path), "--registry", str(tmp_path),
                                           *extra])
        assert r.exit_code == 1 and r.stderr.startswith("error: "), (extra, r.output)
    with pytest.raises(BadColumnError, match="no_such_column"):
        prepare(frame, features=FEATURES, time="no_such_column")
    with pytest.raises(ConfigError):
        SplitSpec(test_fraction=0.0)
