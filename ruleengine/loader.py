"""Read and validate rule files: every problem is reported as ``file:line: message``.

Validation collects all issues of a directory instead of stopping at the first, because an
analyst fixing a file wants the whole list. Nothing here talks to durable-rules; the size
limits it checks come from :mod:`ruleengine.compiler`.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from ruleengine import compiler
from ruleengine.conditions import (
    LIST_OPS,
    OPS,
    OPS_BY_DTYPE,
    PRESENCE_OPS,
    All,
    AnyOf,
    Condition,
    Leaf,
    Not,
)
from ruleengine.errors import Issue, RuleFileError
from ruleengine.rulesets import (
    ACTION_SEVERITY,
    ACTIONS,
    DECISION,
    ELIGIBLE,
    GRADES,
    LEASE_TYPES,
    OUTCOMES,
    PRODUCTS,
    REPAYMENT_METHODS,
    TERMS,
    GradePrice,
    Product,
    Rule,
    RuleSet,
)
from ruleengine.yaml_lines import LineDict, LineList, load_yaml

RULE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
RULESET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MAX_INT = 2**53  # ints travel as float64 in the vector executor
MAX_PRIORITY = 1_000_000
MAX_LIST = 256
TOP_KEYS = {"ruleset", "version", "description", "owner", "rules", "products"}
RULE_KEYS = {"id", "description", "reason_code", "reason_zh", "reason_en", "priority", "when"}
PRODUCT_KEYS = {
    "id",
    "name_zh",
    "name_en",
    "description",
    "lease_type",
    "terms",
    "repayment_method",
    "priority",
    "min_amount",
    "max_amount",
    "max_vehicle_price",
    "max_ltv",
    "pricing",
    "when",
}
RATIO_KEY = {"direct_lease": "deposit_ratio", "leaseback": "down_payment_ratio"}


def rule_files(directory: Path | str) -> list[Path]:
    """The rule files of a directory: its top-level ``*.yaml`` / ``*.yml``, sorted."""
    d = Path(directory)
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"text {value!r}"
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


class _File:
    """Validation of one file: accumulates issues instead of raising."""

    def __init__(self, path: str, catalog: Mapping[str, Any]):
        self.path = path
        self.catalog = catalog
        self.issues: list[Issue] = []

    def err(self, line: int, message: str) -> None:
        self.issues.append(Issue(self.path, line, message))

    # -- scalars ---------------------------------------------------------------------------
    def text(self, node: LineDict, key: str, required: bool = True) -> str:
        if key not in node:
            if required:
                self.err(node.line, f"missing {key!r}")
            return ""
        value = node[key]
        if not isinstance(value, str) or not value.strip():
            self.err(node.line_of(key), f"{key!r} must be non-empty text, got {_type_name(value)}")
            return ""
        return value.strip()

    def priority(self, node: LineDict) -> int:
        if "priority" not in node:
            self.err(node.line, "missing 'priority' (a whole number >= 0; lower fires first)")
            return 0
        value = node["priority"]
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(
                node.line_of("priority"),
                f"priority must be a whole number, got {_type_name(value)}",
            )
            return 0
        if value < 0 or value > MAX_PRIORITY:
            self.err(
                node.line_of("priority"),
                f"priority must be between 0 and {MAX_PRIORITY}, got {value}",
            )
            return 0
        return value

    def number(self, node: LineDict, key: str, lo: float, hi: float) -> Decimal | None:
        if key not in node:
            self.err(node.line, f"missing {key!r}")
            return None
        value = node[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.err(node.line_of(key), f"{key!r} must be a number, got {_type_name(value)}")
            return None
        if not lo <= value <= hi:
            self.err(node.line_of(key), f"{key!r} must be between {lo:g} and {hi:g}, got {value}")
            return None
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)

    def unknown_keys(self, node: LineDict, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.err(node.line_of(key), f"unknown {what} field {key!r}{extra}")

    # -- conditions ------------------------------------------------------------------------
    def condition(self, node: Any, line: int) -> Condition | None:
        if not isinstance(node, LineDict):
            self.err(line, "a condition is a mapping: {feature, op, value} or all / any / not")
            return None
        combinators = [k for k in ("all", "any", "not") if k in node]
        if combinators:
            if len(node) != 1:
                self.err(
                    node.line,
                    f"use exactly one of all / any / not, found {sorted(map(str, node))}",
                )
                return None
            key = combinators[0]
            body = node[key]
            if key == "not":
                inner = self.condition(body, node.line_of(key))
                return Not(inner, node.line) if inner is not None else None
            if not isinstance(body, LineList) or not body:
                self.err(node.line_of(key), f"'{key}' takes a non-empty list of conditions")
                return None
            items = [self.condition(item, body.line_of(i)) for i, item in enumerate(body)]
            if any(item is None for item in items):
                return None
            kind = All if key == "all" else AnyOf
            return kind(tuple(items), node.line)  # type: ignore[arg-type]
        if "feature" not in node:
            self.err(
                node.line,
                f"a condition needs 'feature' (or all / any / not), found {sorted(map(str, node))}",
            )
            return None
        return self.leaf(node)

    def leaf(self, node: LineDict) -> Leaf | None:
        self.unknown_keys(node, {"feature", "op", "value"}, "condition")
        name = node["feature"]
        if not isinstance(name, str) or name not in self.catalog:
            hint = difflib.get_close_matches(str(name), list(self.catalog), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            self.err(node.line_of("feature"), f"unknown feature {name!r}{extra}")
            return None
        fd = self.catalog[name]
        op = node.get("op")
        if op not in OPS:
            self.err(node.line_of("op"), f"unknown operator {op!r}; use one of {', '.join(OPS)}")
            return None
        if op not in OPS_BY_DTYPE[fd.dtype]:
            self.err(
                node.line_of("op"), f"operator {op!r} does not apply to {fd.dtype} feature {name}"
            )
            return None
        line = node.line_of("value")
        if op in PRESENCE_OPS:
            if "value" in node:
                self.err(line, f"'{op}' takes no value")
                return None
            return Leaf(name, op, None, node.line)
        if "value" not in node:
            self.err(node.line, f"operator {op!r} needs a value")
            return None
        raw = node["value"]
        if op in LIST_OPS or op == "between":
            if not isinstance(raw, list) or not raw:
                self.err(line, f"'{op}' takes a list of values, got {_type_name(raw)}")
                return None
            if op == "between" and len(raw) != 2:
                self.err(line, f"'between' takes [low, high], got {len(raw)} values")
                return None
            if len(raw) > MAX_LIST:
                self.err(line, f"'{op}' list has {len(raw)} values; the limit is {MAX_LIST}")
                return None
            values = [self.value(fd, v, line) for v in raw]
            if any(v is None for v in values):
                return None
            if op == "between":
                if values[0] > values[1]:
                    self.err(line, f"'between' low {values[0]} is above high {values[1]}")
                    return None
                return Leaf(name, op, tuple(values), node.line)
            return Leaf(name, op, tuple(dict.fromkeys(values)), node.line)
        value = self.value(fd, raw, line)
        return None if value is None else Leaf(name, op, value, node.line)

    def value(self, fd: Any, v: Any, line: int) -> Any:
        """``v`` checked against the feature's dtype, or None after recording an issue."""
        got = _type_name(v)
        if fd.dtype == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                self.err(line, f"feature {fd.name} is int: value must be a whole number, got {got}")
                return None
            if abs(v) > MAX_INT:
                self.err(line, f"value {v} is out of range for {fd.name}")
                return None
            return v
        if fd.dtype == "float":
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                self.err(line, f"feature {fd.name} is float: value must be a number, got {got}")
                return None
            if v != 0 and not 1e-9 <= abs(v) < 1e15:
                self.err(line, f"value {v} is out of range for {fd.name} (1e-9 <= |value| < 1e15)")
                return None
            return float(v)
        if fd.dtype == "bool":
            if not isinstance(v, bool):
                self.err(line, f"feature {fd.name} is bool: value must be true or false, got {got}")
                return None
            return v
        if not isinstance(v, str) or v not in fd.categories:
            what = f"unknown category {v!r}" if isinstance(v, str) else f"got {got}"
            self.err(line, f"{what} for {fd.name}; one of {', '.join(fd.categories)}")
            return None
        return v

    # -- rules and products ----------------------------------------------------------------
    def rule(self, node: Any, line: int, kind: str | None) -> Rule | None:
        if not isinstance(node, LineDict):
            self.err(line, "a rule is a mapping of fields")
            return None
        result_key = "outcome" if "outcome" in node else "action" if "action" in node else None
        self.unknown_keys(node, RULE_KEYS | {result_key or "outcome"}, "rule")
        before = len(self.issues)
        rule_id = self.text(node, "id")
        if rule_id and not RULE_ID.match(rule_id):
            self.err(
                node.line_of("id"),
                f"rule id {rule_id!r}: use letters, digits and _, starting with a letter (<= 64)",
            )
        texts = {
            k: self.text(node, k) for k in ("description", "reason_code", "reason_zh", "reason_en")
        }
        priority = self.priority(node)
        outcome = ""
        if result_key is None:
            self.err(node.line, "missing 'outcome' (decline / refer) or 'action' (post-loan)")
        else:
            outcome = node[result_key]
            allowed = OUTCOMES if result_key == "outcome" else ACTION_SEVERITY
            if outcome not in allowed:
                self.err(
                    node.line_of(result_key),
                    f"{result_key} must be one of {', '.join(allowed)}, got {outcome!r}",
                )
            expected = {DECISION: "outcome", ACTIONS: "action"}.get(kind or "")
            if expected and expected != result_key:
                self.err(
                    node.line_of(result_key),
                    f"this file's rules use {expected!r}; rule {rule_id} uses {result_key!r}",
                )
        when = None
        if "when" not in node:
            self.err(node.line, "missing 'when' (the condition)")
        else:
            when = self.condition(node["when"], node.line_of("when"))
        if len(self.issues) > before or when is None:
            return None
        rule = Rule(
            rule_id,
            texts["description"],
            texts["reason_code"],
            texts["reason_zh"],
            texts["reason_en"],
            priority,
            outcome,
            when,
            node.line,
        )
        return rule if self.sizes_ok(rule, node.line_of("when")) else None

    def sizes_ok(self, rule: Rule, line: int) -> bool:
        p, t = compiler.rule_sizes(rule, self.catalog)
        if t > compiler.MAX_RULE_TERMS:
            self.err(
                line,
                f"condition of {rule.id} expands to {t} alternatives ($or terms); durable-rules "
                f"hangs near 512, the limit is {compiler.MAX_RULE_TERMS}: split the rule",
            )
            return False
        if p > compiler.SHARD_PATH_BUDGET:
            self.err(
                line,
                f"condition of {rule.id} can match along {p} paths at once; durable-rules "
                f"overflows its 64-entry match stack, the limit is {compiler.SHARD_PATH_BUDGET}: "
                "split the rule",
            )
            return False
        return True

    def product(self, node: Any, line: int) -> tuple[Product, Rule] | None:
        if not isinstance(node, LineDict):
            self.err(line, "a product is a mapping of fields")
            return None
        self.unknown_keys(node, PRODUCT_KEYS, "product")
        before = len(self.issues)
        pid = self.text(node, "id")
        if pid and not RULE_ID.match(pid):
            self.err(
                node.line_of("id"),
                f"product id {pid!r}: use letters, digits and _, starting with a letter",
            )
        name_zh, name_en = self.text(node, "name_zh"), self.text(node, "name_en")
        self.text(node, "description", required=False)
        lease_type = node.get("lease_type")
        if lease_type not in LEASE_TYPES:
            self.err(
                node.line_of("lease_type"),
                f"lease_type must be one of {', '.join(LEASE_TYPES)}, got {lease_type!r}",
            )
        method = node.get("repayment_method")
        if method not in REPAYMENT_METHODS:
            self.err(
                node.line_of("repayment_method"),
                f"repayment_method must be one of {', '.join(REPAYMENT_METHODS)}, got {method!r}",
            )
        terms = node.get("terms")
        if (
            not isinstance(terms, list)
            or not terms
            or any(t not in TERMS or isinstance(t, bool) for t in terms)
            or len(set(terms)) != len(terms)
        ):
            self.err(
                node.line_of("terms"),
                f"terms must be a list of distinct values from {list(TERMS)}, got {terms!r}",
            )
        priority = self.priority(node)
        min_amount = self.number(node, "min_amount", 0, 1e9)
        max_amount = self.number(node, "max_amount", 1, 1e9)
        max_price = self.number(node, "max_vehicle_price", 1, 1e9)
        max_ltv = self.number(node, "max_ltv", 0.01, 1)
        if min_amount is not None and max_amount is not None and min_amount > max_amount:
            self.err(
                node.line_of("min_amount"),
                f"min_amount {min_amount} is above max_amount {max_amount}",
            )
        pricing = self.pricing(node, lease_type)
        when = None
        if "when" in node:
            when = self.condition(node["when"], node.line_of("when"))
            if when is None:
                return None
        if len(self.issues) > before or pricing is None:
            return None
        assert min_amount is not None and max_amount is not None  # checked above
        assert max_price is not None and max_ltv is not None
        product = Product(
            pid,
            name_zh,
            name_en,
            lease_type,
            tuple(terms),
            method,
            priority,
            min_amount,
            max_amount,
            max_price,
            max_ltv,
            pricing,
            node.line,
        )
        eligibility: list[Condition] = [
            Leaf("risk_grade", "in", product.priced_grades, node.line),
            Leaf("lease_type", "==", lease_type, node.line),
            Leaf("loan_amount", "between", (float(min_amount), float(max_amount)), node.line),
            Leaf("vehicle_price", "<=", float(max_price), node.line),
            Leaf("loan_to_value", "<=", float(max_ltv), node.line),
        ]
        if when is not None:
            eligibility.append(when)
        rule = Rule(
            pid,
            name_en,
            "PRODUCT_ELIGIBLE",
            name_zh,
            name_en,
            priority,
            ELIGIBLE,
            All(tuple(eligibility), node.line),
            node.line,
        )
        if not self.sizes_ok(rule, node.line_of("when")):
            return None
        return product, rule

    def pricing(self, node: LineDict, lease_type: Any) -> dict[str, GradePrice | None] | None:
        if "pricing" not in node:
            self.err(
                node.line,
                "missing 'pricing' (annual_rate and ratio, or refuse, for every grade A-E)",
            )
            return None
        table = node["pricing"]
        line = node.line_of("pricing")
        if not isinstance(table, LineDict):
            self.err(line, "pricing must map each grade A-E to a price or 'refuse'")
            return None
        ratio_key = RATIO_KEY.get(lease_type, "down_payment_ratio")
        out: dict[str, GradePrice | None] = {}
        ok = True
        for grade in table:
            if grade not in GRADES:
                self.err(
                    table.line_of(grade),
                    f"unknown risk grade {grade!r}; grades are {', '.join(GRADES)}",
                )
                ok = False
        for grade in GRADES:
            if grade not in table:
                self.err(
                    line,
                    f"no price for grade {grade}: give annual_rate and {ratio_key}, or 'refuse'",
                )
                ok = False
                continue
            price = table[grade]
            if price == "refuse":
                out[grade] = None
                continue
            if not isinstance(price, LineDict):
                self.err(
                    table.line_of(grade),
                    f"grade {grade}: expected {{annual_rate, {ratio_key}}} or 'refuse'",
                )
                ok = False
                continue
            self.unknown_keys(price, {"annual_rate", ratio_key}, f"grade {grade} price")
            rate = self.number(price, "annual_rate", 0.0001, 0.36)
            ratio = self.number(price, ratio_key, 0, 0.9)
            if rate is None or ratio is None:
                ok = False
                continue
            out[grade] = GradePrice(rate, ratio)
        if ok and all(v is None for v in out.values()):
            self.err(line, "every grade is refused: the product can never be offered")
            ok = False
        return out if ok else None

    # -- the file --------------------------------------------------------------------------
    def ruleset(self, doc: Any, content_hash: str) -> RuleSet | None:
        if not isinstance(doc, LineDict):
            self.err(
                1, "a rule file is a mapping with 'ruleset', 'version' and 'rules' or 'products'"
            )
            return None
        self.unknown_keys(doc, TOP_KEYS, "top-level")
        name = self.text(doc, "ruleset")
        if name and not RULESET_NAME.match(name):
            self.err(
                doc.line_of("ruleset"), f"ruleset name {name!r}: lower-case letters, digits and _"
            )
        version = doc.get("version")
        if "version" not in doc:
            self.err(doc.line, "missing 'version' (quoted text, e.g. version: \"2025.06.1\")")
        elif not isinstance(version, str) or not VERSION.match(version):
            self.err(
                doc.line_of("version"),
                f"version must be quoted text of letters, digits, '.', '-', '_', got {version!r}",
            )
        description = doc.get("description") or ""
        has_rules, has_products = "rules" in doc, "products" in doc
        if has_rules == has_products:
            self.err(doc.line, "a rule file has either 'rules' or 'products'")
            return None
        key = "rules" if has_rules else "products"
        items = doc[key]
        if not isinstance(items, LineList) or not items:
            self.err(doc.line_of(key), f"'{key}' must be a non-empty list")
            return None
        rules: list[Rule] = []
        products: list[Product] = []
        if has_products:
            kind = PRODUCTS
            for i, item in enumerate(items):
                built = self.product(item, items.line_of(i))
                if built:
                    products.append(built[0])
                    rules.append(built[1])
        else:
            first = next((r for r in items if isinstance(r, LineDict)), None)
            kind = (
                ACTIONS
                if first is not None and "action" in first and "outcome" not in first
                else DECISION
            )
            for i, item in enumerate(items):
                rule = self.rule(item, items.line_of(i), kind)
                if rule:
                    rules.append(rule)
        seen: dict[str, int] = {}
        for item in items:
            rid = item.get("id") if isinstance(item, LineDict) else None
            if isinstance(rid, str):
                if rid in seen:
                    self.err(
                        item.line_of("id"), f"duplicate id {rid!r} (first at line {seen[rid]})"
                    )
                else:
                    seen[rid] = item.line_of("id")
        if self.issues:
            return None
        rs = RuleSet(
            name,
            kind,
            version,
            content_hash,
            self.path,
            tuple(sorted(rules, key=lambda r: r.sort_key)),
            tuple(products),
            str(description),
        )
        if len(rs.features) > compiler.MAX_FACT_FIELDS:
            self.err(
                doc.line,
                f"the rules read {len(rs.features)} features; durable-rules takes at "
                f"most {compiler.MAX_FACT_FIELDS} per fact",
            )
            return None
        return rs


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def parse_texts(
    files: Mapping[str, bytes], catalog: Mapping[str, Any]
) -> tuple[dict[str, RuleSet], list[Issue]]:
    """Validate rule files given as ``{display path: bytes}`` (also used for ``git show``)
    against ``catalog`` (feature name → definition with ``dtype`` and ``categories``)."""
    rulesets: dict[str, RuleSet] = {}
    issues: list[Issue] = []
    first_line: dict[str, str] = {}
    for path, data in files.items():
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            issues.append(Issue(path, 1, f"not UTF-8 text ({exc.reason})"))
            continue
        doc, yaml_issues = load_yaml(text, path)
        if yaml_issues:
            issues.extend(yaml_issues)
            if doc is None:
                continue
        checker = _File(path, catalog)
        rs = checker.ruleset(doc, content_hash(data))
        issues.extend(checker.issues)
        if rs is None:
            continue
        rs = replace(rs, source=data)
        if rs.name in rulesets:
            issues.append(
                Issue(
                    path,
                    doc.line_of("ruleset"),
                    f"ruleset {rs.name!r} is also declared in {first_line[rs.name]}",
                )
            )
            continue
        rulesets[rs.name] = rs
        first_line[rs.name] = path
    if not files:
        issues.append(Issue("<rules>", 0, "no rule files (*.yaml) found"))
    return rulesets, issues


def validate_dir(
    directory: Path | str, catalog: Mapping[str, Any]
) -> tuple[dict[str, RuleSet], list[Issue]]:
    """Every ruleset of ``directory`` that validated, and every issue found."""
    d = Path(directory)
    if not d.is_dir():
        return {}, [Issue(str(d), 0, "not a directory")]
    return parse_texts({_display(p): p.read_bytes() for p in rule_files(d)}, catalog)


def _display(path: Path) -> str:
    """``path`` relative to the working directory when inside it (shorter file:line)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_dir(directory: Path | str, catalog: Mapping[str, Any]) -> dict[str, RuleSet]:
    """The rulesets of ``directory``; raises :class:`RuleFileError` listing every issue."""
    rulesets, issues = validate_dir(directory, catalog)
    if issues:
        raise RuleFileError(issues)
    return rulesets
