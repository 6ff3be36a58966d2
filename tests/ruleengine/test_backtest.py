"""Backtest on a ten-row frame whose every figure is worked out by hand."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ruleengine.backtest import rules_at_revision, run_backtest, write_report
from ruleengine.cli import rules as rules_cli
from ruleengine.loader import load_dir

RULE = """\
  - id: {id}
    description: d
    reason_code: C
    reason_zh: 中
    reason_en: en
    priority: {priority}
    outcome: {outcome}
    when: {when}
"""
HEAD = 'ruleset: underwriting\nversion: "{version}"\nrules:\n'
BASELINE = (
    HEAD.format(version="base")
    + RULE.format(
        id="DECL_AGE",
        priority=1,
        outcome="decline",
        when='{feature: age_at_application, op: "<", value: 22}',
    )
    + RULE.format(
        id="REF_INC",
        priority=2,
        outcome="refer",
        when="{feature: monthly_income, op: is missing}",
    )
)
CANDIDATE = (
    HEAD.format(version="cand")
    + RULE.format(
        id="DECL_AGE",
        priority=1,
        outcome="decline",
        when='{feature: age_at_application, op: "<", value: 25}',
    )
    + RULE.format(
        id="REF_LOW_INC",
        priority=3,
        outcome="refer",
        when='{feature: monthly_income, op: "<", value: 5000}',
    )
)


@pytest.fixture
def frame() -> pd.DataFrame:
    #            0     1     2       3       4     5     6     7      8       9
    age = [20, 23, 24, 30, 30, 40, 50, 35, 21, 45]
    income = [8000, 8000, np.nan, np.nan, 4000, 9000, 9000, 12000, np.nan, 3000]
    bad = [True, True, False, True, False, False, False, True, False, False]
    return pd.DataFrame(
        {
            "application_id": [f"A{i}" for i in range(10)],
            "applied_at": pd.date_range("2024-01-01", periods=10, freq="D"),
            "age_at_application": np.array(age, dtype=float),
            "monthly_income": income,
            "bad_12m": bad,
            "true_pd": np.linspace(0.01, 0.10, 10),
        }
    )


@pytest.fixture
def sides(write_rules):
    base = write_rules({"underwriting.yaml": BASELINE}, name="baseline")
    cand = write_rules({"underwriting.yaml": CANDIDATE}, name="candidate")
    return base, cand


def test_report_figures(sides, frame, catalog, tmp_path):
    base, cand = sides
    report = run_backtest(load_dir(cand, catalog), load_dir(base, catalog), frame, catalog)
    b, c = report["baseline"], report["candidate"]
    assert b["counts"] == {"pass": 6, "refer": 2, "decline": 2}
    assert c["counts"] == {"pass": 4, "refer": 2, "decline": 4}
    assert b["approved_bad_rate"] == pytest.approx(2 / 6)
    assert c["approved_bad_rate"] == pytest.approx(2 / 4)
    pd_ = frame["true_pd"].to_numpy()
    assert c["approved_mean_true_pd"] == pytest.approx(pd_[[3, 5, 6, 7]].mean())
    swap = report["swap"]
    assert swap["newly_approved"] == {"count": 1, "share": 0.1, "bad_rate": 1.0}
    assert swap["newly_declined_or_referred"]["count"] == 3
    assert swap["newly_declined_or_referred"]["bad_rate"] == pytest.approx(1 / 3)
    assert swap["approved_by_both"]["count"] == 3
    assert swap["matrix"]["pass"]["refer"]["count"] == 2
    assert swap["matrix"]["refer"]["pass"] == {"count": 1, "bad_rate": 1.0}
    assert swap["matrix"]["decline"]["decline"]["count"] == 2
    rules = {r["id"]: r for r in report["rules"]}
    assert rules["DECL_AGE"]["in"] == "both"
    assert rules["DECL_AGE"]["baseline"]["hit_rate"] == pytest.approx(0.2)
    assert rules["DECL_AGE"]["baseline"]["unique_hit_rate"] == pytest.approx(0.1)
    assert rules["DECL_AGE"]["candidate"]["hit_rate"] == pytest.approx(0.4)
    assert rules["DECL_AGE"]["candidate"]["unique_hit_rate"] == pytest.approx(0.4)
    assert rules["REF_INC"]["in"] == "baseline" and rules["REF_INC"]["candidate"] is None
    assert rules["REF_INC"]["baseline"]["unique_hit_rate"] == pytest.approx(0.2)
    assert rules["REF_LOW_INC"]["candidate"]["bad_rate_among_hits"] == 0.0

    paths = write_report(report, tmp_path / "out")
    md = paths["markdown"].read_text()
    assert "| pass rate | 60.00% | 40.00% | -20.00 pt |" in md
    assert "| newly approved | 1 | 10.00% | 100.00% |" in md
    assert "![decision rates](chart.svg)" in md
    svg = paths["chart"].read_text()
    assert "<svg" in svg and svg.rstrip().endswith("</svg>")
    for label in ("pass", "refer", "decline", "60.0%", "40.0%", "baseline", "candidate"):
        assert label in svg, label  # labels stay text: searchable, readable by a screen reader
    assert json.loads(paths["json"].read_text())["candidate"]["counts"]["decline"] == 4


def _git(repo, *args):
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_baseline_from_a_git_revision(tmp_path, sides, frame, catalog):
    base, cand = sides
    repo = tmp_path / "repo"
    (repo / "rules").mkdir(parents=True)
    _git(repo, "init", "-q")
    shutil.copy(base / "underwriting.yaml", repo / "rules" / "underwriting.yaml")
    _git(repo, "add", "rules")
    _git(repo, "commit", "-q", "-m", "baseline rules")
    shutil.copy(cand / "underwriting.yaml", repo / "rules" / "underwriting.yaml")

    at_head = rules_at_revision("HEAD", repo / "rules", catalog)
    assert at_head["underwriting"].version == load_dir(base, catalog)["underwriting"].version

    data = tmp_path / "apps.parquet"
    frame.to_parquet(data)
    out = tmp_path / "report"
    result = CliRunner().invoke(
        rules_cli,
        [
            "backtest",
            "--candidate",
            str(repo / "rules"),
            "--baseline",
            "HEAD",
            "--data",
            str(data),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 newly approved, 3 newly declined/referred" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["baseline"]["label"] == "HEAD"
    assert report["baseline"]["counts"]["pass"] == 6

    bad_rev = CliRunner().invoke(
        rules_cli,
        [
            "backtest",
            "--candidate",
            str(repo / "rules"),
            "--baseline",
            "nosuchrev",
            "--data",
            str(data),
            "--out",
            str(out),
        ],
    )
    assert bad_rev.exit_code == 1
    assert bad_rev.stderr.startswith("error: git ls-tree") and "Traceback" not in bad_rev.output


def test_backtest_cli_rejects_data_without_outcomes(sides, frame, tmp_path):
    base, cand = sides
    data = tmp_path / "apps.parquet"
    frame.drop(columns=["bad_12m"]).to_parquet(data)
    result = CliRunner().invoke(
        rules_cli,
        [
            "backtest",
            "--candidate",
            str(cand),
            "--baseline",
            str(base),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("lacks column(s) bad_12m")


@pytest.mark.parametrize(("label", "shown"), [("maybe", "['maybe']"), ("", "['nan']")])
def test_backtest_cli_refuses_a_label_that_is_not_0_or_1(sides, frame, tmp_path, label, shown):
    """Read from a CSV, one 'maybe' made the column text: every "0" was a non-empty string,
    true, and the report said 100 % bad; a missing label (NaN, true) counted as a bad."""
    base, cand = sides
    data = tmp_path / "apps.csv"
    labelled = frame.assign(bad_12m=frame["bad_12m"].astype(int).astype(object))
    labelled.loc[3, "bad_12m"] = label
    labelled.to_csv(data, index=False)
    result = CliRunner().invoke(rules_cli, ["backtest", "--candidate", str(cand), "--baseline",
                                            str(base), "--data", str(data), "--out",
                                            str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"error: column bad_12m must be 0 or 1 (1 = bad) on every row; found {shown} at "
        "row(s) [4] (counted from 1 after the header)")
    assert not (tmp_path / "o" / "report.md").exists()
