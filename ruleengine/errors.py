"""Errors the rule engine raises; each carries enough to print one clear line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a rule or case file, pinned to a line so an analyst can jump to it."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class RuleEngineError(Exception):
    """Base class: anything the engine reports to a caller or an operator."""


class RuleFileError(RuleEngineError):
    """Rule files failed validation; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: list[Issue]):
        self.issues = list(issues)
        first = str(self.issues[0]) if self.issues else "invalid rule files"
        more = f" (and {len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(first + more)


class FactError(RuleEngineError, ValueError):
    """A feature value does not fit its catalog definition (wrong type, unknown category...)."""


class EngineError(RuleEngineError):
    """durable-rules returned an error code."""


class ReloadError(RuleEngineError):
    """A reload failed; the previous version keeps serving."""


class UnknownRuleset(RuleEngineError, KeyError):
    """No ruleset of that name is loaded."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown ruleset"
