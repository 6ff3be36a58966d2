"""The rule engine's public verbs for the rest of the platform (decisioning, admin endpoint).

Module-level functions over one process-wide :class:`~ruleengine.registry.RuleBook`, created
on first use from ``$CHEDAITONG_RULES_DIR`` (default ``rules/``). Code that wants its own
rules directory (tests, backtests) builds a ``RuleBook`` directly.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ruleengine import registry
from ruleengine.outcomes import Evaluation
from ruleengine.products import ProductOffer
from ruleengine.registry import RuleBook

_book: RuleBook | None = None
_lock = threading.Lock()


def book() -> RuleBook:
    """The process-wide RuleBook (loaded on first use; raises ReloadError if invalid)."""
    global _book
    with _lock:
        if _book is None:
            _book = RuleBook()
        return _book


def configure(directory: Path | str | None = None, **kwargs: Any) -> RuleBook:
    """Replace the process-wide RuleBook with one loaded from ``directory``."""
    global _book
    new = RuleBook(directory, **kwargs)
    with _lock:
        old, _book = _book, new
    if old is not None:
        old.close()
    return new


def evaluate(features: Mapping[str, Any], ruleset: str = "underwriting") -> Evaluation:
    """Outcome, fired rules (with reasons, by priority then id) and version for one row."""
    return book().evaluate(features, ruleset)


def evaluate_many(
    rows: Sequence[Mapping[str, Any]], ruleset: str = "underwriting"
) -> list[Evaluation]:
    return book().evaluate_many(rows, ruleset)


def evaluate_frame(df: pd.DataFrame, ruleset: str = "underwriting") -> pd.DataFrame:
    """Vectorised evaluation: one result row per input row (outcome, fired_rules, version...)."""
    return book().evaluate_frame(df, ruleset)


def match_products(features: Mapping[str, Any]) -> list[ProductOffer]:
    """Offers of every eligible product; the first one is the recommended plan."""
    return book().match_products(features)


def reload(directory: Path | str | None = None) -> dict[str, str]:
    """Hot-reload the rules; on failure raises ReloadError and the old version keeps serving."""
    return book().reload(directory)


def current_versions() -> dict[str, str]:
    return book().current_versions()


def install_sighup_handler(directory: Path | str | None = None) -> Any:
    """``kill -HUP <pid>`` reloads the process-wide rules (call from the main thread)."""
    return registry.install_sighup_handler(book(), directory)
