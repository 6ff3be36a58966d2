"""Validation: every mistake an analyst can make is reported as file:line: message."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from ruleengine.cli import rules as rules_cli
from ruleengine.loader import validate_dir

HEADER = 'ruleset: underwriting\nversion: "1.0"\nrules:\n'  # the first rule starts at line 4


def rule(when: str, *, rid: str = "R1", priority: str = "10", outcome: str = "decline") -> str:
    return textwrap.dedent(f"""\
        - id: {rid}
          description: d
          reason_code: C
          reason_zh: 中文
          reason_en: english
          priority: {priority}
          outcome: {outcome}
          when: {when}
    """)  # the `when` value is on line +7 of the rule


def issues_of(write_rules, toy_catalog, text: str, name: str = "u.yaml") -> list[str]:
    d = write_rules({name: text})
    _, issues = validate_dir(d, toy_catalog)
    return [f"{i.path.rsplit('/', 1)[-1]}:{i.line}: {i.message}" for i in issues]


def test_valid_file_has_no_issues(write_rules, toy_catalog):
    text = HEADER + rule('{feature: age_at_application, op: "<", value: 22}')
    rulesets, issues = validate_dir(write_rules({"u.yaml": text}), toy_catalog)
    assert issues == []
    assert rulesets["underwriting"].rules[0].id == "R1"
    assert rulesets["underwriting"].version.startswith("1.0+")


def test_yaml_syntax_error_has_its_line(write_rules, toy_catalog):
    text = HEADER + rule('{feature: age_at_application, op: "<", value: 22}') + "  - id: [oops\n"
    (msg,) = issues_of(write_rules, toy_catalog, text)
    assert msg.startswith("u.yaml:12: YAML syntax error")


def test_duplicate_yaml_key(write_rules, toy_catalog):
    text = HEADER + rule('{feature: age_at_application, op: "<", value: 22}') + "  id: again\n"
    assert "u.yaml:12: duplicate key 'id' (first at line 4)" in issues_of(
        write_rules, toy_catalog, text
    )


def test_unknown_feature_suggests_a_name(write_rules, toy_catalog):
    text = HEADER + rule('{feature: age_at_aplication, op: "<", value: 22}')
    assert issues_of(write_rules, toy_catalog, text) == [
        "u.yaml:11: unknown feature 'age_at_aplication' (did you mean 'age_at_application'?)"
    ]


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            '{feature: age_at_application, op: "<", value: "22"}',
            "feature age_at_application is int: value must be a whole number, got text '22'",
        ),
        (
            '{feature: age_at_application, op: "<", value: 21.5}',
            "feature age_at_application is int: value must be a whole number, got a number",
        ),
        (
            '{feature: monthly_income, op: ">", value: "high"}',
            "feature monthly_income is float: value must be a number, got text 'high'",
        ),
        (
            '{feature: id_card_verified, op: "==", value: 1}',
            "feature id_card_verified is bool: value must be true or false, got a number",
        ),
        (
            '{feature: dealer_channel, op: "==", value: flagship}',
            "unknown category 'flagship' for dealer_channel; "
            "one of 4s_store, dealer_group, sub_dealer",
        ),
        (
            "{feature: dealer_channel, op: in, value: [4s_store, 7]}",
            "got a number for dealer_channel; one of 4s_store, dealer_group, sub_dealer",
        ),
    ],
)
def test_wrong_value_type(write_rules, toy_catalog, when, message):
    found = issues_of(write_rules, toy_catalog, HEADER + rule(when))
    assert found == [f"u.yaml:11: {message}"]


def test_unknown_operator(write_rules, toy_catalog):
    text = HEADER + rule('{feature: age_at_application, op: "=<", value: 22}')
    (msg,) = issues_of(write_rules, toy_catalog, text)
    assert msg.startswith("u.yaml:11: unknown operator '=<'; use one of <, <=")


def test_operator_must_fit_the_dtype(write_rules, toy_catalog):
    text = HEADER + rule('{feature: dealer_channel, op: "<", value: sub_dealer}')
    assert issues_of(write_rules, toy_catalog, text) == [
        "u.yaml:11: operator '<' does not apply to category feature dealer_channel"
    ]


def test_between_needs_low_and_high(write_rules, toy_catalog):
    text = HEADER + rule("{feature: age_at_application, op: between, value: [30, 20]}")
    assert issues_of(write_rules, toy_catalog, text) == [
        "u.yaml:11: 'between' low 30 is above high 20"
    ]


def test_nested_condition_issue_points_at_the_leaf(write_rules, toy_catalog):
    text = rule("X").replace(
        "when: X",
        "when:\n    all:\n      - {feature: age_at_application, op: '<', value: 22}\n"
        "      - any:\n          - {feature: monthly_incme, op: is missing}",
    )
    found = issues_of(write_rules, toy_catalog, HEADER + text)
    assert found == ["u.yaml:15: unknown feature 'monthly_incme' (did you mean 'monthly_income'?)"]


def test_duplicate_rule_id(write_rules, toy_catalog):
    leaf = '{feature: age_at_application, op: "<", value: 22}'
    text = HEADER + rule(leaf) + rule(leaf, rid="R2") + rule(leaf)
    assert issues_of(write_rules, toy_catalog, text) == [
        "u.yaml:20: duplicate id 'R1' (first at line 4)"
    ]


@pytest.mark.parametrize(
    ("priority", "message"),
    [
        ("-1", "priority must be between 0 and 1000000, got -1"),
        ("1.5", "priority must be a whole number, got a number"),
        ("high", "priority must be a whole number, got text 'high'"),
        ("true", "priority must be a whole number, got true/false"),
    ],
)
def test_priority_must_be_a_non_negative_int(write_rules, toy_catalog, priority, message):
    text = HEADER + rule('{feature: age_at_application, op: "<", value: 22}', priority=priority)
    assert issues_of(write_rules, toy_catalog, text) == [f"u.yaml:9: {message}"]


def test_missing_and_unknown_rule_fields(write_rules, toy_catalog):
    text = (
        HEADER + "  - id: R1\n    priority: 1\n    outcome: decline\n    reasn_en: x\n"
        "    when: {feature: age_at_application, op: is missing}\n"
    )
    found = issues_of(write_rules, toy_catalog, text)
    assert "u.yaml:7: unknown rule field 'reasn_en' (did you mean 'reason_en'?)" in found
    assert "u.yaml:4: missing 'reason_code'" in found


def test_outcome_must_be_known(write_rules, toy_catalog):
    text = HEADER + rule("{feature: age_at_application, op: is missing}", outcome="reject")
    assert issues_of(write_rules, toy_catalog, text) == [
        "u.yaml:10: outcome must be one of decline, refer, got 'reject'"
    ]


def test_version_must_be_quoted_text(write_rules, toy_catalog):
    text = "ruleset: underwriting\nversion: 1.10\nrules:\n" + rule(
        "{feature: age_at_application, op: is missing}"
    )
    (msg,) = issues_of(write_rules, toy_catalog, text)
    assert msg.startswith("u.yaml:2: version must be quoted text")


def test_in_list_too_large_for_durable(write_rules, toy_catalog):
    values = ", ".join(str(i) for i in range(300))
    text = HEADER + rule(f"{{feature: age_at_application, op: in, value: [{values}]}}")
    assert issues_of(write_rules, toy_catalog, text) == [
        "u.yaml:11: 'in' list has 300 values; the limit is 256"
    ]


def test_or_expansion_too_large_for_durable(write_rules, toy_catalog):
    # all(any of 17, any of 17) = 289 alternatives in disjunctive normal form
    branch = ", ".join(f'{{feature: age_at_application, op: "==", value: {i}}}' for i in range(17))
    other = ", ".join(f'{{feature: loan_amount, op: "==", value: {i}}}' for i in range(17))
    when = f"{{all: [{{any: [{branch}]}}, {{any: [{other}]}}]}}"
    (msg,) = issues_of(write_rules, toy_catalog, HEADER + rule(when))
    assert msg.startswith("u.yaml:11: condition of R1 expands to 289 alternatives ($or terms)")


def test_too_many_simultaneous_paths_for_durable(write_rules, toy_catalog):
    # 50 branches that can all hold at once overflow durable's 64-entry match stack
    branch = ", ".join(f'{{feature: age_at_application, op: ">", value: {i}}}' for i in range(50))
    (msg,) = issues_of(write_rules, toy_catalog, HEADER + rule(f"{{any: [{branch}]}}"))
    assert msg.startswith("u.yaml:11: condition of R1 can match along 50 paths at once")


PRODUCT = """\
ruleset: products
version: "1.0"
products:
  - id: P1
    name_zh: 产品
    name_en: Product
    lease_type: leaseback
    terms: [12, 24]
    repayment_method: equal_installment
    priority: 1
    min_amount: 1000
    max_amount: 100000
    max_vehicle_price: 200000
    max_ltv: 0.8
    pricing:
      A: {annual_rate: 0.05, down_payment_ratio: 0.2}
      B: {annual_rate: 0.06, down_payment_ratio: 0.2}
      C: {annual_rate: 0.07, down_payment_ratio: 0.3}
      D: refuse
"""


def test_product_without_a_price_for_a_grade(write_rules, toy_catalog):
    assert issues_of(write_rules, toy_catalog, PRODUCT, "p.yaml") == [
        "p.yaml:15: no price for grade E: give annual_rate and down_payment_ratio, or 'refuse'"
    ]


def test_product_with_the_wrong_ratio_name_and_bad_term(write_rules, toy_catalog):
    text = (PRODUCT + "      E: {annual_rate: 0.09, deposit_ratio: 0.3}\n").replace(
        "terms: [12, 24]", "terms: [12, 18]"
    )
    found = issues_of(write_rules, toy_catalog, text, "p.yaml")
    assert (
        "p.yaml:8: terms must be a list of distinct values from [12, 24, 36], got [12, 18]" in found
    )
    assert "p.yaml:20: unknown grade E price field 'deposit_ratio'" in found[1]


def test_valid_product_compiles_to_an_eligibility_rule(write_rules, toy_catalog):
    rulesets, issues = validate_dir(
        write_rules({"p.yaml": PRODUCT + "      E: refuse\n"}), toy_catalog
    )
    assert issues == []
    product = rulesets["products"].products[0]
    assert product.priced_grades == ("A", "B", "C")
    assert str(product.pricing["C"].annual_rate) == "0.07"


def test_every_issue_of_a_directory_is_reported(write_rules, toy_catalog):
    d = write_rules(
        {
            "a.yaml": HEADER + rule('{feature: nope, op: "<", value: 1}'),
            "b.yaml": HEADER.replace("underwriting", "postloan")
            + rule("{feature: x, op: is missing}"),
        }
    )
    _, issues = validate_dir(d, toy_catalog)
    assert [(i.path.rsplit("/", 1)[-1], i.line) for i in issues] == [("a.yaml", 11), ("b.yaml", 11)]


def test_same_ruleset_in_two_files(write_rules, toy_catalog):
    text = HEADER + rule("{feature: age_at_application, op: is missing}")
    _, issues = validate_dir(write_rules({"a.yaml": text, "b.yaml": text}), toy_catalog)
    assert len(issues) == 1 and issues[0].line == 1
    assert "ruleset 'underwriting' is also declared in" in issues[0].message


def test_cli_validate_reports_file_line_and_exits_1(write_rules):
    d = write_rules({"u.yaml": HEADER + rule('{feature: age_at_application, op: "<", value: "x"}')})
    result = CliRunner().invoke(rules_cli, ["validate", str(d)])
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.endswith(
        "u.yaml:11: feature age_at_application is int: value must be a whole number, got text 'x'"
    )
    assert "Traceback" not in result.output


def test_cli_validate_repository_rules():
    result = CliRunner().invoke(rules_cli, ["validate"])
    assert result.exit_code == 0, result.output
    assert "ok: 3 rule file(s) valid" in result.output
    assert "underwriting" in result.output


GOOD = '{feature: age_at_application, op: "<", value: 22}'


@pytest.mark.parametrize(("broken", "message"), [
    # a raw NUL (a file saved by a broken editor): PyYAML's reader raised before the loader
    # existed, a 50-line traceback
    (HEADER + rule(GOOD).replace("english", "eng\x00lish"),
     "u.yaml:8: character #x0000 is not allowed in YAML (a control character)"),
    # 200 nested conditions: RecursionError, a 2,000-line traceback
    (HEADER + rule("{all: [" * 200 + GOOD + "]}" * 200),
     "u.yaml:11: nested deeper than 64 levels"),
    # "error: Exceeds the limit (4300 digits) …" — with no file, no line
    (HEADER + rule('{feature: age_at_application, op: "<", value: ' + "9" * 5000 + "}"),
     "u.yaml:11: integer 99999999999999999999… is too long"),
    # escapes YAML reads into text that PostgreSQL refuses in the decision recording the
    # reason: the files validated ("ok") and every decision firing the rule would fail
    (HEADER + rule(GOOD).replace("english", '"eng\\0lish"'),
     "u.yaml:8: text contains a NUL character"),
    (HEADER + rule(GOOD).replace("english", '"eng\\ud800lish"'),
     "u.yaml:8: text contains a lone surrogate (invalid Unicode)"),
], ids=["raw NUL", "deep nesting", "huge integer", "NUL escape", "lone surrogate escape"])
def test_cli_validate_names_file_and_line_of_hostile_bytes(write_rules, broken, message):
    d = write_rules({"u.yaml": broken})
    for verb in ("validate", "test"):
        result = CliRunner().invoke(rules_cli, [verb, str(d)])
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), result.exception  # no traceback
        assert result.stderr.splitlines()[0].endswith(message), result.stderr
