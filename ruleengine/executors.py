"""One interface for running a compiled ruleset: which of its rules match each row.

Two executors stand behind it with the same meaning (proved by tests/ruleengine/test_parity):
`DurableRuleset` (durable-rules, one fact per row: the online path) and `VectorPlan` (numpy
masks over a frame: batch, backtests, the nightly job). What a set of fired rules *means*
(outcome, reasons, actions) is the ruleset's `Combiner`, shared by both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Executor(Protocol):
    """Runs one compiled ruleset."""

    #: how the executor is named in reports ("durable", "vector")
    name: str

    def fire_many(self, rows: Sequence[Mapping[str, Any]]) -> list[set[str]]:
        """The ids of the rules matching each row of features (catalog-checked first:
        a value the catalog does not allow is a `FactError`)."""
        ...
