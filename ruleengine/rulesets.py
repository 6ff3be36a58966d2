"""Validated rule files as typed records: what the loader produces and the compiler consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ruleengine.conditions import Condition, features_read

# Kinds of ruleset, told apart by their content (``rules`` with ``outcome`` / ``action``, or
# ``products``).
DECISION = "decision"
ACTIONS = "actions"
PRODUCTS = "products"

OUTCOMES = ("decline", "refer")  # a decision ruleset's combined result adds "pass"
# Post-loan actions from mildest to most severe; the combined result is the most severe one.
ACTION_SEVERITY = ("sms_reminder", "gps_alert", "phone_task", "outsourced_collection")
GRADES = ("A", "B", "C", "D", "E")
LEASE_TYPES = ("direct_lease", "leaseback")
TERMS = (12, 24, 36)
REPAYMENT_METHODS = ("equal_installment", "equal_principal")
ELIGIBLE = "eligible"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. ``outcome`` is decline/refer, an action name, or ``eligible`` for products."""

    id: str
    description: str
    reason_code: str
    reason_zh: str
    reason_en: str
    priority: int
    outcome: str
    when: Condition
    line: int = 0

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.priority, self.id)


@dataclass(frozen=True, slots=True)
class GradePrice:
    annual_rate: Decimal
    down_payment_ratio: Decimal  # the deposit ratio for a direct lease


@dataclass(frozen=True, slots=True)
class Product:
    """A financial product; its eligibility is compiled into an ordinary rule of the same id."""

    id: str
    name_zh: str
    name_en: str
    lease_type: str
    terms: tuple[int, ...]
    repayment_method: str
    priority: int
    min_amount: Decimal
    max_amount: Decimal
    max_vehicle_price: Decimal
    max_ltv: Decimal
    pricing: dict[str, GradePrice | None]  # None: the grade is refused
    line: int = 0

    @property
    def priced_grades(self) -> tuple[str, ...]:
        return tuple(g for g in GRADES if self.pricing.get(g) is not None)


@dataclass(frozen=True)
class RuleSet:
    """A validated rule file. ``rules`` is sorted by (priority, id), the reporting order."""

    name: str
    kind: str
    declared_version: str
    content_hash: str
    path: str
    rules: tuple[Rule, ...]
    products: tuple[Product, ...] = ()
    description: str = ""
    features: tuple[str, ...] = field(default=())
    # the file's bytes as loaded: what a decision's rules archive keeps (the file on disk may
    # since have been edited and not yet reloaded)
    source: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.features:
            read: set[str] = set()
            for rule in self.rules:
                read |= features_read(rule.when)
            object.__setattr__(self, "features", tuple(sorted(read)))

    @property
    def version(self) -> str:
        """Analyst-declared version plus a short hash of the file's bytes."""
        return f"{self.declared_version}+{self.content_hash}"

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def product(self, product_id: str) -> Product:
        for product in self.products:
            if product.id == product_id:
                return product
        raise KeyError(product_id)
