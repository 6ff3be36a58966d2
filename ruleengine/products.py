"""Offers from the eligible products: one per allowed term, priced for the risk grade.

Money and rates are :class:`~decimal.Decimal` end to end (rates come from the YAML text, so
``0.0688`` is exactly 0.0688); amounts are rounded half-up to the fen (0.01 CNY).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ruleengine.model import Product
from servicing.schedule import offer_summary

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class ProductOffer:
    product_id: str
    name_zh: str
    name_en: str
    lease_type: str
    term: int
    repayment_method: str
    risk_grade: str
    annual_rate: Decimal
    down_payment_ratio: Decimal  # the deposit ratio for a direct lease
    financed_amount: Decimal | None  # loan_amount capped by the price net of the deposit
    first_installment: Decimal | None
    total_interest: Decimal | None
    recommended: bool
    version: str


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def schedule_figures(
    principal: Decimal, annual_rate: Decimal, term: int, method: str
) -> tuple[Decimal, Decimal]:
    """(first monthly installment, total interest) from the schedule servicing will bill."""
    summary = offer_summary(principal, annual_rate, term, method)
    return summary.monthly_installment, summary.total_interest


def build_offers(
    features: Mapping[str, Any],
    eligible: Iterable[Product],
    version: str,
) -> list[ProductOffer]:
    """Offers for ``eligible`` products; the requested term first, then product priority."""
    grade = features.get("risk_grade")
    requested = features.get("term_months")
    price = _decimal(features.get("vehicle_price"))
    amount = _decimal(features.get("loan_amount"))
    offers: list[tuple[tuple, ProductOffer]] = []
    for product in eligible:
        quote = product.pricing.get(grade) if isinstance(grade, str) else None
        if quote is None:  # eligibility already requires a priced grade; be defensive
            continue
        for term in product.terms:
            financed = first = interest = None
            if price is not None and amount is not None:
                cap = price * (1 - quote.down_payment_ratio)
                financed = min(amount, cap).quantize(CENT, ROUND_HALF_UP)
                if financed > 0:
                    first, interest = schedule_figures(
                        financed, quote.annual_rate, term, product.repayment_method
                    )
            offer = ProductOffer(
                product.id,
                product.name_zh,
                product.name_en,
                product.lease_type,
                term,
                product.repayment_method,
                grade,
                quote.annual_rate,
                quote.down_payment_ratio,
                financed,
                first,
                interest,
                False,
                version,
            )
            key = (term != requested, product.priority, product.id, term)
            offers.append((key, offer))
    offers.sort(key=lambda pair: pair[0])
    out = [offer for _, offer in offers]
    if out:
        out[0] = replace(out[0], recommended=True)
    return out
