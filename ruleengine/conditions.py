"""The condition language shared by every rule file, and its meaning.

A condition is a tree of ``all`` / ``any`` / ``not`` over leaves ``feature op value``.

Missing values, defined once for both executors: a feature is *missing* when it is absent from
the features, ``None`` or NaN. Every comparison on a missing feature is **false** — including
``!=``, ``not in`` and ``between`` — only ``is missing`` is true. ``not`` is plain boolean
negation of its whole condition, so ``not (x < 5)`` is true when ``x`` is missing.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union

# Comparisons that read the same for a scalar and a numpy column (`!=`, `in` do not: a missing
# value must stay "no match" in both executors, which needs the presence mask in batch).
ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
            "==": operator.eq}

COMPARE_OPS = ("<", "<=", ">", ">=")
EQUALITY_OPS = ("==", "!=")
LIST_OPS = ("in", "not in")
PRESENCE_OPS = ("is missing", "is present")
OPS = (*COMPARE_OPS, *EQUALITY_OPS, *LIST_OPS, "between", *PRESENCE_OPS)
# Operators that make sense per catalog dtype.
OPS_BY_DTYPE = {
    "int": frozenset(OPS),
    "float": frozenset(OPS),
    "bool": frozenset((*EQUALITY_OPS, *LIST_OPS, *PRESENCE_OPS)),
    "category": frozenset((*EQUALITY_OPS, *LIST_OPS, *PRESENCE_OPS)),
}


@dataclass(frozen=True, slots=True)
class Leaf:
    """``feature op value``. ``value`` is a scalar, a tuple (in / not in / between) or None."""

    feature: str
    op: str
    value: Any
    line: int = 0


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Condition, ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Condition, ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition
    line: int = 0


Condition = Union[Leaf, All, AnyOf, Not]  # noqa: UP007 - a runtime alias used in isinstance


def leaves(cond: Condition) -> Iterator[Leaf]:
    """Every leaf of ``cond``, depth first."""
    if isinstance(cond, Leaf):
        yield cond
    elif isinstance(cond, All | AnyOf):
        for item in cond.items:
            yield from leaves(item)
    else:
        yield from leaves(cond.item)


def features_read(cond: Condition) -> set[str]:
    return {leaf.feature for leaf in leaves(cond)}


def thresholds(cond: Condition) -> Iterator[tuple[str, Any]]:
    """(feature, value) for every literal in ``cond``: the boundaries worth testing."""
    for leaf in leaves(cond):
        if leaf.op in PRESENCE_OPS:
            continue
        if isinstance(leaf.value, tuple):
            for v in leaf.value:
                yield leaf.feature, v
        else:
            yield leaf.feature, leaf.value


def evaluate_python(cond: Condition, facts: dict[str, Any]) -> bool:
    """Reference meaning of a condition on already coerced facts (missing = key absent).

    Slow and obvious on purpose: the two executors are tested against each other, and this
    spells out the semantics they must share.
    """
    if isinstance(cond, All):
        return all(evaluate_python(c, facts) for c in cond.items)
    if isinstance(cond, AnyOf):
        return any(evaluate_python(c, facts) for c in cond.items)
    if isinstance(cond, Not):
        return not evaluate_python(cond.item, facts)
    x = facts.get(cond.feature)
    if cond.op == "is missing":
        return x is None
    if cond.op == "is present":
        return x is not None
    if x is None:
        return False
    v = cond.value
    if cond.op in ORDERING:
        return ORDERING[cond.op](x, v)
    match cond.op:
        case "!=":
            return x != v
        case "in":
            return x in v
        case "not in":
            return x not in v
        case "between":
            return v[0] <= x <= v[1]
    raise ValueError(f"unknown operator {cond.op!r}")
