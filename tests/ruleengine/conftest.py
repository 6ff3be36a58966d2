"""Fixtures for the rule engine: the repository's rules, temporary rule directories and a
small fixed catalog (so validation tests do not depend on how the real catalog evolves)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from featurestore import FeatureCatalog, FeatureDef
from ruleengine.rulebook import RuleBook

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"


def _fd(name: str, dtype: str, categories: tuple[str, ...] = (), entity: str = "application"):
    return FeatureDef(
        name, dtype, entity, "test", "test feature", "not known", 0, "tests", None, categories
    )


TOY = FeatureCatalog(
    [
        _fd("age_at_application", "int"),
        _fd("monthly_income", "float"),
        _fd("id_card_verified", "bool"),
        _fd("dealer_channel", "category", ("4s_store", "dealer_group", "sub_dealer")),
        _fd("lease_type", "category", ("direct_lease", "leaseback")),
        _fd("risk_grade", "category", ("A", "B", "C", "D", "E"), "decision"),
        _fd("loan_amount", "float"),
        _fd("vehicle_price", "float"),
        _fd("loan_to_value", "float"),
        _fd("days_past_due", "int", entity="loan"),
        _fd("model_pd", "float", entity="decision"),
    ]
)


@pytest.fixture(scope="session")
def toy_catalog() -> FeatureCatalog:
    return TOY


@pytest.fixture(scope="session")
def catalog():
    from featurestore import catalog as real

    return real()


@pytest.fixture(scope="session")
def book(catalog) -> Iterator[RuleBook]:
    """The repository's rules, loaded once per test session."""
    b = RuleBook(RULES, catalog=catalog)
    yield b
    b.close()


@pytest.fixture
def write_rules(tmp_path: Path) -> Callable[..., Path]:
    """``write_rules({"a.yaml": text, ...}, name="rules")`` → a directory of dedented files."""

    def write(files: dict[str, str], name: str = "rules") -> Path:
        d = tmp_path / name
        d.mkdir(parents=True, exist_ok=True)
        for rel, text in files.items():
            p = d / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return d

    return write


def rule_file(rules: str, *, ruleset: str = "underwriting", version: str = '"1.0"') -> str:
    """A decision rule file around an indented ``rules:`` body (lines start at 4)."""
    return f"ruleset: {ruleset}\nversion: {version}\nrules:\n" + textwrap.dedent(rules)
