"""Declarative credit rules: YAML files compiled once, run by durable-rules online and by numpy
in batch, with the same meaning (see ``rules/README.md``)."""

from ruleengine.errors import (
    EngineError,
    FactError,
    Issue,
    ReloadError,
    RuleEngineError,
    RuleFileError,
    UnknownRuleset,
)
from ruleengine.outcomes import Evaluation, FiredRule
from ruleengine.products import ProductMatch
from ruleengine.rulebook import RuleBook, default_rules_dir, install_sighup_handler

__all__ = [
    "EngineError",
    "Evaluation",
    "FactError",
    "FiredRule",
    "Issue",
    "ProductMatch",
    "ReloadError",
    "RuleBook",
    "RuleEngineError",
    "RuleFileError",
    "UnknownRuleset",
    "default_rules_dir",
    "install_sighup_handler",
]
