"""One compiler, two executors: rule files → durable-rules JSON rulesets and a vector plan.

durable-rules has no ``not`` and no ``$in``, treats a missing field as "every comparison false"
and silently misbehaves past a few size limits, so conditions are first put in negation normal
form with the missing-value meaning of :mod:`ruleengine.conditions` made explicit:
``not (x < 5)`` becomes ``x >= 5 or x is missing``; ``x in [a, b]`` becomes ``x == a or x == b``.

Two sizes are checked here (measured on 2.0.28, see ``rules/README.md``):

* *paths*: how many alpha-network paths of a rule can match one fact at the same time. The C
  core walks the network with a 64-entry stack and fails with error 303 beyond it — and leaves
  its state corrupt (measured: a later call segfaults). So rules are packed into shards of at
  most ``SHARD_PATH_BUDGET`` paths, each shard its own durable ruleset, and a single rule above
  the budget is a validation error.
* *terms*: the size of a condition in disjunctive normal form; ``create_ruleset`` hangs without
  an error for a ``$or`` of about 512 terms, so one rule may have at most ``MAX_RULE_TERMS``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruleengine.conditions import All, Condition, Leaf, Not
from ruleengine.facts import FactEncoder
from ruleengine.jsontext import dumps
from ruleengine.outcomes import Combiner
from ruleengine.rulesets import Rule, RuleSet
from ruleengine.vector_executor import VectorPlan

DURABLE_STACK = 64  # MAX_STACK_SIZE in durable's C core (65 rules matching at once: error 303)
SHARD_PATH_BUDGET = 48  # well below DURABLE_STACK; the sentinel rule adds one path per shard
MAX_RULE_TERMS = 256  # a $or of >= 512 terms hangs create_ruleset
MAX_SHARD_TERMS = 400  # ~520 rules in one ruleset hang create_ruleset
MAX_FACT_FIELDS = 250  # a fact with > 255 fields fails (error 302); sid and id take two
GUARD = {"$nex": {"$s": 1}}  # never match the session-state fact (infinite loop, #288)
# A rule in every shard that matches every fact. durable's createStateNode leaves the session's
# action context (two pointers) uninitialised and deleteStateNode frees them when non-NULL:
# when no rule fires, delete_state frees garbage (measured with valgrind: aborts / segfaults
# once freed rulesets' memory is reused). Only start_action sets those pointers (and the action
# loop then frees and clears them), so every evaluation must fire at least one action.
SENTINEL = "_always"
SENTINEL_RULE = {"all": [{"m": GUARD}], "pri": 2_000_000}

_CMP = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "==": "$eq", "!=": "$neq"}
_NEGATED_CMP = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


@dataclass(frozen=True, slots=True)
class DAnd:
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class DOr:
    """A disjunction; ``exclusive`` when at most one branch can hold for any fact."""

    items: tuple[Any, ...]
    exclusive: bool = False


def _cmp(op: str, feature: str, value: Any) -> dict:
    return {_CMP[op]: {feature: value}}


def _missing(feature: str) -> dict:
    return {"$nex": {feature: 1}}


def _or(items: list[Any], exclusive: bool) -> Any:
    return items[0] if len(items) == 1 else DOr(tuple(items), exclusive)


def _and(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else DAnd(tuple(items))


def _leaf(leaf: Leaf, negate: bool, cast: Any) -> Any:
    f, op, v = leaf.feature, leaf.op, leaf.value
    if op == "is missing" or op == "is present":
        wants_missing = (op == "is missing") != negate
        return _missing(f) if wants_missing else {"$ex": {f: 1}}
    if op in _CMP:
        if not negate:
            return _cmp(op, f, cast(v))
        return DOr((_cmp(_NEGATED_CMP[op], f, cast(v)), _missing(f)), exclusive=True)
    if op == "between":
        lo, hi = cast(v[0]), cast(v[1])
        if not negate:
            return DAnd((_cmp(">=", f, lo), _cmp("<=", f, hi)))
        return DOr((_cmp("<", f, lo), _cmp(">", f, hi), _missing(f)), exclusive=True)
    values = [cast(x) for x in v]
    equal_any = _or([_cmp("==", f, x) for x in values], exclusive=True)
    differ_all = _and([_cmp("!=", f, x) for x in values])
    if op == "in":
        return equal_any if not negate else DOr((differ_all, _missing(f)), exclusive=True)
    if op == "not in":
        if not negate:
            return differ_all
        return DOr((*[_cmp("==", f, x) for x in values], _missing(f)), exclusive=True)
    raise ValueError(f"unknown operator {op!r}")


def to_durable(cond: Condition, casts: Mapping[str, Any], negate: bool = False) -> Any:
    """Negation normal form of ``cond`` as DAnd / DOr / durable leaf dicts."""
    if isinstance(cond, Leaf):
        return _leaf(cond, negate, casts[cond.feature])
    if isinstance(cond, Not):
        return to_durable(cond.item, casts, not negate)
    parts = [to_durable(item, casts, negate) for item in cond.items]
    conjunction = isinstance(cond, All) != negate
    return _and(parts) if conjunction else _or(parts, exclusive=False)


def paths(node: Any) -> int:
    """Upper bound of alpha paths of ``node`` matching one fact at once (the stack it needs)."""
    if isinstance(node, DAnd):
        return math.prod(paths(i) for i in node.items)
    if isinstance(node, DOr):
        sizes = [paths(i) for i in node.items]
        return max(sizes) if node.exclusive else sum(sizes)
    return 1


def terms(node: Any) -> int:
    """Number of conjunctions of ``node`` in disjunctive normal form (what durable expands)."""
    if isinstance(node, DAnd):
        return math.prod(terms(i) for i in node.items)
    if isinstance(node, DOr):
        return sum(terms(i) for i in node.items)
    return 1


def _json_expr(node: Any) -> Any:
    if isinstance(node, DAnd):
        return {"$and": [_json_expr(i) for i in node.items]}
    if isinstance(node, DOr):
        return {"$or": [_json_expr(i) for i in node.items]}
    return node


def rule_document(rule: Rule, casts: Mapping[str, Any]) -> dict:
    """The durable JSON of one rule, guarded against the session-state fact."""
    expr = to_durable(rule.when, casts)
    conjuncts = list(expr.items) if isinstance(expr, DAnd) else [expr]
    cond = {"$and": [*(_json_expr(c) for c in conjuncts), GUARD]}
    return {"all": [{"m": cond}], "pri": rule.priority}


@dataclass(frozen=True, slots=True)
class Shard:
    """Rules compiled into one durable ruleset document (JSON text)."""

    rule_ids: tuple[str, ...]
    document: str
    paths: int
    terms: int


def casts_for(catalog: Mapping[str, Any]) -> dict[str, Any]:
    """Per feature, how literal values are written to durable (floats stay floats)."""
    kinds = {"int": int, "float": float, "bool": bool, "category": str}
    return {name: kinds[fd.dtype] for name, fd in catalog.items()}


def rule_sizes(rule: Rule, catalog: Mapping[str, Any]) -> tuple[int, int]:
    """(paths, terms) of one rule; the validator checks them against the limits."""
    expr = to_durable(rule.when, casts_for(catalog))
    return paths(expr), terms(expr)


def shard_ruleset(ruleset: RuleSet, catalog: Mapping[str, Any]) -> tuple[Shard, ...]:
    """Pack rules, in reporting order, into as few durable rulesets as the limits allow."""
    casts = casts_for(catalog)
    shards: list[Shard] = []
    ids: list[str] = []
    docs: dict[str, dict] = {}
    used_paths = used_terms = 0

    def flush() -> None:
        if ids:
            document = dumps({**docs, SENTINEL: SENTINEL_RULE})
            shards.append(Shard(tuple(ids), document, used_paths + 1, used_terms + 1))

    for rule in ruleset.rules:
        expr = to_durable(rule.when, casts)
        p, t = paths(expr), terms(expr)
        if p > SHARD_PATH_BUDGET or t > MAX_RULE_TERMS:
            raise ValueError(
                f"rule {rule.id} is too large for durable-rules ({p} paths, {t} terms)"
            )
        if used_paths + p > SHARD_PATH_BUDGET or used_terms + t > MAX_SHARD_TERMS:
            flush()
            ids, docs, used_paths, used_terms = [], {}, 0, 0
        ids.append(rule.id)
        docs[rule.id] = rule_document(rule, casts)
        used_paths += p
        used_terms += t
    flush()
    return tuple(shards)


@dataclass(frozen=True)
class CompiledRuleset:
    """Everything both executors need for one ruleset version."""

    ruleset: RuleSet
    shards: tuple[Shard, ...]
    vector: VectorPlan
    encoder: FactEncoder
    combiner: Combiner

    @property
    def name(self) -> str:
        return self.ruleset.name

    @property
    def version(self) -> str:
        return self.ruleset.version


def compile_ruleset(ruleset: RuleSet, catalog: Mapping[str, Any]) -> CompiledRuleset:
    """Compile a validated ruleset for durable (shards) and for numpy (vector plan)."""
    return CompiledRuleset(
        ruleset,
        shard_ruleset(ruleset, catalog),
        VectorPlan(ruleset, catalog),
        FactEncoder(ruleset.features, catalog),
        Combiner(ruleset),
    )
