"""Product matches from the eligible products: one per allowed term, with the rate and the
deposit / down-payment ratio of the applicant's risk grade, the requested term first.

Rates and ratios are :class:`~decimal.Decimal` from the YAML text (``0.0688`` is exactly
0.0688). Money amounts (financed amount, installments) are not the rule engine's: the decision
layer prices a match (`decisioning.pricing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from ruleengine.rulesets import Product


@dataclass(frozen=True, slots=True)
class ProductMatch:
    product_id: str
    name_zh: str
    name_en: str
    lease_type: str
    term: int
    repayment_method: str
    risk_grade: str
    annual_rate: Decimal
    down_payment_ratio: Decimal  # the deposit ratio for a direct lease
    recommended: bool
    version: str


def match_offers(
    features: Mapping[str, Any],
    eligible: Iterable[Product],
    version: str,
) -> list[ProductMatch]:
    """Matches for ``eligible`` products; the requested term first, then product priority;
    the first is the recommended plan."""
    grade = features.get("risk_grade")
    requested = features.get("term_months")
    matches: list[tuple[tuple, ProductMatch]] = []
    for product in eligible:
        quote = product.pricing.get(grade) if isinstance(grade, str) else None
        if quote is None:  # eligibility already requires a priced grade; be defensive
            continue
        for term in product.terms:
            match = ProductMatch(
                product.id,
                product.name_zh,
                product.name_en,
                product.lease_type,
                term,
                product.repayment_method,
                grade,
                quote.annual_rate,
                quote.down_payment_ratio,
                False,
                version,
            )
            matches.append(((term != requested, product.priority, product.id, term), match))
    matches.sort(key=lambda pair: pair[0])
    out = [match for _, match in matches]
    if out:
        out[0] = replace(out[0], recommended=True)
    return out
