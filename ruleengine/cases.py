"""Analyst test cases kept beside the rules: given features → expected outcome and fired rules.

``rules/tests/*.yaml``::

    ruleset: underwriting
    base: {age_at_application: 35, ...}      # features shared by every case
    cases:
      - name: under-age applicant is declined
        features: {age_at_application: 19}   # merged over base; null = missing
        expect: {outcome: decline, fired: [UW_AGE_UNDER_22]}

``expect`` may hold ``outcome``, ``fired`` (the exact set of fired rule ids), ``actions``
(post-loan) and ``eligible`` (product ids). Every case runs on both executors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruleengine.errors import Issue, RuleEngineError
from ruleengine.rulebook import RuleBook
from ruleengine.yaml_lines import LineDict, LineList, load_yaml

EXPECT_KEYS = ("outcome", "fired", "actions", "eligible")
EXECUTORS = ("durable", "vector")  # every case runs on both


@dataclass(frozen=True)
class Case:
    path: str
    line: int
    name: str
    ruleset: str
    features: dict[str, Any]
    expect: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Observed:
    outcome: str
    fired: tuple[str, ...]
    actions: tuple[str, ...] = ()


@dataclass
class CaseRun:
    """Failures of every case on every executor; empty ``failures`` means all passed."""

    cases: list[Case] = field(default_factory=list)
    failures: list[Issue] = field(default_factory=list)
    runs: int = 0


def case_files(rules_dir: Path | str) -> list[Path]:
    d = Path(rules_dir) / "tests"
    return sorted(p for p in d.glob("*.y*ml") if p.is_file()) if d.is_dir() else []


def load_cases(path: Path | str, catalog: Mapping[str, Any]) -> tuple[list[Case], list[Issue]]:
    """Parse one case file; issues carry file:line."""
    p = str(path)
    doc, issues = load_yaml(Path(path).read_text(encoding="utf-8"), p)
    if doc is None:
        return [], issues
    if not isinstance(doc, LineDict) or not isinstance(doc.get("ruleset"), str):
        return [], [*issues, Issue(p, 1, "a case file needs 'ruleset' and 'cases'")]
    base = doc.get("base") or LineDict()
    cases_node = doc.get("cases")
    if not isinstance(base, LineDict):
        issues.append(Issue(p, doc.line_of("base"), "'base' must map feature names to values"))
        base = LineDict()
    issues += _unknown_features(p, base, catalog)
    if not isinstance(cases_node, LineList) or not cases_node:
        return [], [*issues, Issue(p, doc.line_of("cases"), "'cases' must be a non-empty list")]
    out: list[Case] = []
    for i, node in enumerate(cases_node):
        line = cases_node.line_of(i)
        if not isinstance(node, LineDict) or not isinstance(node.get("name"), str):
            issues.append(Issue(p, line, "a case needs a 'name'"))
            continue
        feats = node.get("features") or LineDict()
        expect = node.get("expect")
        if not isinstance(feats, LineDict):
            issues.append(Issue(p, node.line_of("features"), "'features' must be a mapping"))
            continue
        issues += _unknown_features(p, feats, catalog)
        if not isinstance(expect, LineDict) or not expect:
            issues.append(Issue(p, node.line_of("expect"), f"case {node['name']!r} needs 'expect'"))
            continue
        bad = [k for k in expect if k not in EXPECT_KEYS]
        if bad:
            issues.append(Issue(p, expect.line, f"unknown expect key(s) {bad}; use {EXPECT_KEYS}"))
            continue
        merged = {**base, **feats}
        out.append(Case(p, node.line, node["name"], doc["ruleset"], merged, dict(expect)))
    return out, issues


def _unknown_features(path: str, node: LineDict, catalog: Mapping[str, Any]) -> list[Issue]:
    return [
        Issue(path, node.line_of(k), f"unknown feature {k!r}") for k in node if k not in catalog
    ]


def compare(case: Case, seen: Observed) -> list[str]:
    """Human-readable differences between what a case expects and what an executor gave."""
    problems = []
    exp = case.expect
    if "outcome" in exp and exp["outcome"] != seen.outcome:
        problems.append(f"outcome {seen.outcome}, expected {exp['outcome']}")
    for key, got in (("fired", seen.fired), ("eligible", seen.fired), ("actions", seen.actions)):
        if key in exp:
            want = set(exp[key] or [])
            if want != set(got):
                missing = sorted(want - set(got))
                extra = [g for g in got if g not in want]
                problems.append(
                    f"{key} {list(got)}, expected {sorted(want)}"
                    f" (missing {missing}, unexpected {extra})"
                )
    return problems


def run_cases(book: RuleBook, rules_dir: Path | str | None = None) -> CaseRun:
    """Run every case file of ``rules_dir`` (default: the book's) on durable and on numpy."""
    run = CaseRun()
    for path in case_files(rules_dir or book.directory):
        cases, issues = load_cases(path, book.catalog)
        run.failures += issues
        run.cases += cases
    by_ruleset: dict[str, list[Case]] = {}
    for case in run.cases:
        by_ruleset.setdefault(case.ruleset, []).append(case)
    versions = book.current_versions()
    for name, cases in by_ruleset.items():
        if name not in versions:
            for case in cases:
                run.failures.append(Issue(case.path, case.line, f"unknown ruleset {name!r}"))
            continue
        for executor in EXECUTORS:
            for case, seen in zip(cases, _observed(book, name, cases, executor), strict=True):
                run.runs += 1
                run.failures += _issues(case, executor, seen)
    return run


def _issues(case: Case, executor: str, seen: Observed | str) -> list[Issue]:
    problems = [seen] if isinstance(seen, str) else compare(case, seen)
    return [Issue(case.path, case.line, f"case {case.name!r} [{executor}]: {p}") for p in problems]


def _observed(book: RuleBook, ruleset: str, cases: list[Case],
              executor: str) -> list[Observed | str]:
    out: list[Observed | str] = []
    for case in cases:  # one case at a time, so one bad value fails only its own case
        try:
            (ev,) = book.evaluate_many([case.features], ruleset, executor=executor)
        except RuleEngineError as exc:
            out.append(f"error: {exc}")
            continue
        out.append(Observed(ev.outcome, ev.fired_ids, ev.actions))
    return out
