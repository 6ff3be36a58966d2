"""Pricing the rule engine's product matches: financed amount capped by the deposit, first
installment and total interest from servicing's schedule, exact decimals."""

from __future__ import annotations

from decimal import Decimal

from decisioning.pricing import price
from servicing.schedule import offer_summary

APPLICATION = {
    "risk_grade": "B",
    "lease_type": "direct_lease",
    "loan_amount": 200000.0,
    "vehicle_price": 260000.0,
    "loan_to_value": 0.7692,
    "term_months": 36,
    "dealer_channel": "4s_store",
    "monthly_income": 30000.0,
    "installment_to_income": 0.25,
}


def test_offers_are_priced_from_the_schedule_servicing_bills(rulebook):
    offers = price(APPLICATION, rulebook.match_products(APPLICATION))
    first = offers[0]
    assert (first.product_id, first.term, first.recommended) == ("DL_PRIME", 36, True)
    # 200,000 financed (below 85% of the price), equal principal over 36 months
    assert first.financed_amount == Decimal("200000.00")
    assert first.first_installment == Decimal("6435.56")
    assert first.total_interest == Decimal("16280.00")
    assert all(isinstance(o.financed_amount, Decimal) for o in offers)


def test_financed_amount_is_capped_by_the_deposit(rulebook):
    features = {**APPLICATION, "loan_amount": 230000.0, "loan_to_value": 0.8846}
    standard = next(o for o in price(features, rulebook.match_products(features))
                    if o.product_id == "DL_STANDARD")
    assert standard.financed_amount == Decimal("221000.00")  # 260,000 × (1 − 0.15)


def test_no_amounts_without_price_or_loan(rulebook):
    matches = rulebook.match_products(APPLICATION)
    offers = price({**APPLICATION, "vehicle_price": None}, matches)
    assert offers and all(o.financed_amount is None and o.first_installment is None
                          for o in offers)


def test_offer_figures():
    q = offer_summary(Decimal(120000), Decimal("0.12"), 12, "equal_installment")
    assert q.monthly_installment == Decimal("10661.85")
    assert q.total_interest == Decimal("7942.26")  # 12 × 10661.855… − 120,000
    q = offer_summary(Decimal(120000), Decimal("0.12"), 12, "equal_principal")
    assert (q.monthly_installment, q.total_interest) == (Decimal("11200.00"), Decimal("7800.00"))
