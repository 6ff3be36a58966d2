"""The analysts' cases in rules/tests, one pytest test per case and executor."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from featurestore import catalog
from ruleengine.cases import Observed, case_files, compare, load_cases, run_cases
from ruleengine.cli import rules as rules_cli
from ruleengine.facts import rows_to_frame
from ruleengine.rulebook import RuleBook

from .conftest import RULES


def _cases():
    out = []
    for path in case_files(RULES):
        cases, issues = load_cases(path, catalog())
        assert not issues, issues
        out += cases
    return out


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.ruleset}:{c.name}" for c in CASES])
def test_case_on_durable(book, case):
    ev = book.evaluate(case.features, case.ruleset)
    assert compare(case, Observed(ev.outcome, ev.fired_ids, ev.actions)) == [], case.where


@pytest.mark.parametrize("case", CASES, ids=[f"{c.ruleset}:{c.name}" for c in CASES])
def test_case_on_vector(book, case):
    compiled = book.compiled(case.ruleset)
    row = compiled.vector.evaluate(rows_to_frame([case.features], compiled.ruleset.features)).iloc[
        0
    ]
    seen = Observed(str(row["outcome"]), tuple(row["fired_rules"]), tuple(row.get("actions", ())))
    assert compare(case, seen) == [], case.where


def test_every_ruleset_has_cases():
    assert {c.ruleset for c in CASES} == {"underwriting", "products", "postloan"}
    assert len(CASES) >= 50


AGE_RULE = """\
ruleset: underwriting
version: "1"
rules:
  - id: UW_AGE_UNDER_22
    description: too young
    reason_code: AGE
    reason_zh: 年龄不足
    reason_en: too young
    priority: 1
    outcome: decline
    when: {feature: age_at_application, op: "<", value: 22}
"""
BROKEN = """\
ruleset: underwriting
base: {age_at_application: 30}
cases:
  - name: fine
    expect: {outcome: pass}
  - name: wrong on purpose
    features: {age_at_application: 19}
    expect: {outcome: refer, fired: [UW_AGE_UNDER_22, NOPE]}
  - name: bad value
    features: {age_at_application: "old"}
    expect: {outcome: pass}
  - name: typo in a feature
    features: {age_at_applicaton: 40}
    expect: {outcome: pass}
"""


def test_runner_reports_failures_with_file_and_line(tmp_path, write_rules, catalog):
    rules = write_rules(
        {
            "underwriting.yaml": AGE_RULE,
            "tests/cases.yaml": BROKEN,
        }
    )
    b = RuleBook(rules, catalog=catalog)
    try:
        run = run_cases(b)
    finally:
        b.close()
    messages = [str(f).rsplit("/", 1)[-1] for f in run.failures]
    assert "cases.yaml:13: unknown feature 'age_at_applicaton'" in messages
    assert any(
        m.startswith(
            "cases.yaml:6: case 'wrong on purpose' [durable]: outcome decline, expected refer"
        )
        for m in messages
    )
    assert any(
        m.startswith("cases.yaml:6: case 'wrong on purpose' [vector]: fired")
        and "missing ['NOPE']" in m
        for m in messages
    )
    assert any(
        m.startswith(
            "cases.yaml:9: case 'bad value' [durable]: error: feature age_at_application is int"
        )
        for m in messages
    )
    assert not any("'fine'" in m for m in messages)

    result = CliRunner().invoke(rules_cli, ["test", str(rules)])
    assert result.exit_code == 1
    assert "FAILED:" in result.stderr and "Traceback" not in result.output


def test_cli_test_passes_on_the_repository_rules():
    result = CliRunner().invoke(rules_cli, ["test", str(RULES)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"ok: {len(CASES)} case(s), {2 * len(CASES)} run(s)")
