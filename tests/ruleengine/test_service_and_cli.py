"""The RuleBook's public verbs and the remaining CLI commands."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest
from click.testing import CliRunner

from chedaitong_sim.synthetic import rule_frames
from ruleengine import FactError, UnknownRuleset
from ruleengine.cli import rules as rules_cli

from .conftest import ROOT, RULES


def test_evaluate_returns_reasons_in_priority_order_with_the_version(book):
    ev = book.evaluate({"age_at_application": 19, "tp_blacklisted": True})
    assert ev.outcome == "decline"
    assert ev.fired_ids[:2] == ("UW_AGE_UNDER_22", "UW_TP_BLACKLIST")
    priorities = [f.priority for f in ev.fired]
    assert priorities == sorted(priorities)
    assert ev.fired[0].reason_zh == "申请人年龄未满22周岁"
    assert ev.version == book.current_versions()["underwriting"]
    assert ev.to_dict()["fired"][0]["reason_code"] == "AGE_OUT_OF_RANGE"


def test_evaluate_frame_matches_evaluate(book, catalog):
    frame = rule_frames.applications(300, catalog, seed=5)
    batch = book.evaluate_frame(frame)
    assert list(batch.columns) == ["outcome", "fired_rules", "version"]
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    online = book.evaluate_many(rows)
    assert [e.outcome for e in online] == list(batch["outcome"].astype(str))
    assert [e.fired_ids for e in online] == list(batch["fired_rules"])
    # the same rows through the one executor interface, by the vector executor
    assert book.evaluate_many(rows, executor="vector") == online


def test_postloan_and_products_through_the_book(book):
    ev = book.evaluate({"days_past_due": 45, "vehicle_gps_offline_days_30d": 29}, "postloan")
    assert ev.actions == ("outsourced_collection", "gps_alert")
    offers = book.match_products(
        {
            "risk_grade": "A",
            "lease_type": "leaseback",
            "loan_amount": 90000.0,
            "vehicle_price": 150000.0,
            "loan_to_value": 0.6,
            "term_months": 12,
            "installment_to_income": 0.2,
        }
    )
    assert offers[0].product_id == "LB_STANDARD" and offers[0].term == 12
    assert offers[0].annual_rate == Decimal("0.0688")


def test_bad_input_is_a_clear_error(book):
    with pytest.raises(FactError, match="unknown category 'flagship'"):
        book.evaluate({"dealer_channel": "flagship"})
    with pytest.raises(UnknownRuleset, match="no ruleset 'pricing'"):
        book.evaluate({}, "pricing")
    with pytest.raises(FactError, match="frame lacks column"):
        book.evaluate_frame(rule_frames.applications(3, {}, seed=1))


def test_cli_versions():
    result = CliRunner().invoke(rules_cli, ["versions", str(RULES)])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == ["postloan", "products", "underwriting"]


def test_cli_usage_errors_exit_2(tmp_path):
    result = CliRunner().invoke(rules_cli, ["validate", str(tmp_path / "missing")])
    assert result.exit_code == 2
    result = CliRunner().invoke(rules_cli, ["backtest", "--candidate", str(RULES)])
    assert result.exit_code == 2


def test_python_dash_m_ruleengine():
    done = subprocess.run(
        [sys.executable, "-m", "ruleengine", "versions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "underwriting" in done.stdout
