"""Offers priced from the rule engine's product matches: what the customer would borrow and
repay, in exact decimals, from the schedule servicing will bill.

The financed amount is the requested loan capped by the vehicle price net of the deposit /
down payment, rounded by `servicing.money.to_cents` (the one rounding rule); the first
installment and the total interest come from `servicing.schedule.offer_summary`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ruleengine.products import ProductMatch
from servicing.money import to_cents
from servicing.schedule import offer_summary


@dataclass(frozen=True, slots=True)
class Offer:
    """One priced plan, as the decision records it (money and rates as exact decimals)."""

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


def price(features: Mapping[str, Any], matches: Iterable[ProductMatch]) -> list[Offer]:
    """Each match priced for the application's ``vehicle_price`` and ``loan_amount`` (no
    amounts when either is missing), in the matches' order."""
    vehicle_price = _decimal(features.get("vehicle_price"))
    amount = _decimal(features.get("loan_amount"))
    offers = []
    for m in matches:
        financed = first = interest = None
        if vehicle_price is not None and amount is not None:
            financed = to_cents(min(amount, vehicle_price * (1 - m.down_payment_ratio)))
            if financed > 0:
                summary = offer_summary(financed, m.annual_rate, m.term, m.repayment_method)
                first, interest = summary.monthly_installment, summary.total_interest
        offers.append(Offer(m.product_id, m.name_zh, m.name_en, m.lease_type, m.term,
                            m.repayment_method, m.risk_grade, m.annual_rate,
                            m.down_payment_ratio, financed, first, interest, m.recommended,
                            m.version))
    return offers
