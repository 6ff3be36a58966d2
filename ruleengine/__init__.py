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

# The rule book imports pandas and durable-rules: loaded on first use of these names, so that
# `chedaitong rules --help` (which imports `ruleengine.cli`, hence this package) stays instant.
_REGISTRY_NAMES = ("RuleBook", "default_rules_dir", "install_sighup_handler")


def __getattr__(name: str):
    if name in _REGISTRY_NAMES:
        from ruleengine import rulebook

        return getattr(rulebook, name)
    raise AttributeError(f"module 'ruleengine' has no attribute {name!r}")


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
