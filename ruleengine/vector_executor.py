"""The batch executor: rule conditions as numpy masks over a whole feature frame.

Columns come from :func:`ruleengine.facts.frame_columns` (float64 with NaN, int16 category
codes with -1 for missing), so "missing" means the same as in the durable fact. Comparisons
with NaN are already false in numpy; ``!=`` and ``not in`` are explicitly masked by presence,
and ``not`` is a plain ``~`` — exactly the semantics of :mod:`ruleengine.conditions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ruleengine.conditions import ORDERING, All, AnyOf, Condition, Leaf, Not, features_read
from ruleengine.facts import frame_columns, rows_to_frame
from ruleengine.outcomes import Combiner
from ruleengine.rulesets import ACTIONS, PRODUCTS, RuleSet


class VectorPlan:
    """A ruleset ready for frames: ``fire_matrix`` gives one boolean column per rule. An
    `ruleengine.executors.Executor`."""

    name = "vector"

    def __init__(self, ruleset: RuleSet, catalog: Mapping[str, Any]):
        self.ruleset = ruleset
        self.catalog = catalog
        self.rule_ids = tuple(r.id for r in ruleset.rules)
        #: the features each rule reads, in rule order
        self.rule_features = tuple(frozenset(features_read(r.when)) for r in ruleset.rules)
        self.combiner = Combiner(ruleset)

    def columns(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        return frame_columns(df, self.ruleset.features, self.catalog)

    def fire_matrix(self, df: pd.DataFrame) -> np.ndarray:
        """Boolean (rows, rules) matrix; rules in reporting order (priority, id)."""
        return self.fire_columns(self.columns(df), len(df))

    def fire_columns(self, cols: Mapping[str, np.ndarray], n: int,
                     rules: Sequence[int] | None = None) -> np.ndarray:
        """`fire_matrix` over columns already coded as `frame_columns` codes them (for a
        caller that builds many small frames' columns itself, such as re-apply guidance);
        ``rules``: the positions of the only rules to evaluate (one column each, in that
        order), the columns then needing only the features those rules read."""
        chosen = self.ruleset.rules if rules is None else [self.ruleset.rules[j] for j in rules]
        out = np.empty((n, len(chosen)), dtype=bool)
        cache: dict[tuple, np.ndarray] = {}
        for j, rule in enumerate(chosen):
            out[:, j] = self._mask(rule.when, cols, n, cache)
        return out

    def fire_many(self, rows: Sequence[Mapping[str, Any]]) -> list[set[str]]:
        """The ids of the rules matching each row (rows become one frame)."""
        matrix = self.fire_matrix(rows_to_frame(rows, self.ruleset.features))
        return [{self.rule_ids[j] for j in np.flatnonzero(row)} for row in matrix]

    # -- masks ----------------------------------------------------------------------------
    def _mask(self, cond: Condition, cols: dict, n: int, cache: dict) -> np.ndarray:
        if isinstance(cond, Leaf):
            key = (cond.feature, cond.op, cond.value)
            m = cache.get(key)
            if m is None:
                m = cache[key] = self._leaf(cond, cols[cond.feature])
            return m
        if isinstance(cond, Not):
            return ~self._mask(cond.item, cols, n, cache)
        masks = [self._mask(item, cols, n, cache) for item in cond.items]
        combined = masks[0].copy()
        for m in masks[1:]:
            if isinstance(cond, All):
                combined &= m
            else:
                combined |= m
        assert isinstance(cond, All | AnyOf)
        return combined

    def _leaf(self, leaf: Leaf, x: np.ndarray) -> np.ndarray:
        fd = self.catalog[leaf.feature]
        op, v = leaf.op, leaf.value
        if fd.dtype == "category":
            present = x >= 0
            if op == "is missing":
                return ~present
            if op == "is present":
                return present
            index = {c: i for i, c in enumerate(fd.categories)}
            if op in ("in", "not in"):
                hit = np.isin(x, [index[c] for c in v])
                return hit if op == "in" else ~hit & present
            code = index[v]
            return x == code if op == "==" else (x != code) & present
        present = ~np.isnan(x)
        if op == "is missing":
            return ~present
        if op == "is present":
            return present
        if fd.dtype == "bool":
            v = tuple(float(b) for b in v) if isinstance(v, tuple) else float(v)
        if op in ORDERING:
            return ORDERING[op](x, v)
        match op:
            case "!=":
                return (x != v) & present
            case "between":
                return (x >= v[0]) & (x <= v[1])
            case "in":
                return np.isin(x, np.asarray(v, dtype=np.float64))
            case "not in":
                return ~np.isin(x, np.asarray(v, dtype=np.float64)) & present
        raise ValueError(f"unknown operator {op!r}")

    # -- results ----------------------------------------------------------------------------
    def evaluate(self, df: pd.DataFrame) -> pd.DataFrame:
        """Per row: ``outcome``, ``fired_rules`` (ids in reporting order), ``actions`` (action
        rulesets) or ``eligible_products`` (product rulesets), and ``version``."""
        matrix = self.fire_matrix(df)
        return self.results(matrix, df.index)

    def results(self, matrix: np.ndarray, index: pd.Index) -> pd.DataFrame:
        patterns, inverse = unique_rows(matrix)
        outcomes: list[str] = []
        fired = np.empty(len(patterns), dtype=object)
        actions = np.empty(len(patterns), dtype=object)
        for j, row in enumerate(patterns):
            ids = [self.rule_ids[i] for i in np.flatnonzero(row)]
            outcome, rules, acts = self.combiner.combine(ids)
            outcomes.append(outcome)
            fired[j] = tuple(r.id for r in rules)
            actions[j] = acts
        labels = sorted(set(outcomes))
        codes = np.array([labels.index(o) for o in outcomes], dtype=np.int16)[inverse]
        data: dict[str, Any] = {"outcome": pd.Categorical.from_codes(codes, labels)}
        data["fired_rules"] = fired[inverse]
        if self.ruleset.kind == ACTIONS:
            data["actions"] = actions[inverse]
        if self.ruleset.kind == PRODUCTS:
            data["eligible_products"] = data["fired_rules"]
        frame = pd.DataFrame(data, index=index)
        frame["version"] = pd.Categorical.from_codes(
            np.zeros(len(index), dtype=np.int8), [self.ruleset.version]
        )
        return frame


def unique_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, inverse index) of a boolean matrix, via 64-bit codes when they fit."""
    n, k = matrix.shape
    if n == 0:
        return np.zeros((0, k), dtype=bool), np.zeros(0, dtype=np.intp)
    if k <= 63:
        weights = np.left_shift(np.uint64(1), np.arange(k, dtype=np.uint64))
        keys = matrix.astype(np.uint64) @ weights if k else np.zeros(n, dtype=np.uint64)
    else:
        packed = np.ascontiguousarray(np.packbits(matrix, axis=1))
        keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return matrix[first], inverse.ravel()
