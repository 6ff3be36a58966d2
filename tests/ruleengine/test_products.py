"""Product offers: exact decimals, one offer per allowed term, the requested term first."""

from __future__ import annotations

from decimal import Decimal

from ruleengine.products import schedule_figures

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


def test_offers_are_priced_per_grade_with_decimals(book):
    offers = book.match_products(APPLICATION)
    assert [(o.product_id, o.term) for o in offers] == [
        ("DL_PRIME", 36),
        ("DL_STANDARD", 36),
        ("DL_PRIME", 12),
        ("DL_PRIME", 24),
        ("DL_STANDARD", 12),
        ("DL_STANDARD", 24),
    ]
    first = offers[0]
    assert first.recommended and not any(o.recommended for o in offers[1:])
    assert first.annual_rate == Decimal("0.0528") and isinstance(first.annual_rate, Decimal)
    assert first.down_payment_ratio == Decimal("0.15")
    assert first.repayment_method == "equal_principal"
    assert first.version == book.current_versions()["products"]
    # 200,000 financed (below 85% of the price), equal principal over 36 months
    assert first.financed_amount == Decimal("200000.00")
    assert first.first_installment == Decimal("6435.56")
    assert first.total_interest == Decimal("16280.00")


def test_financed_amount_is_capped_by_the_deposit(book):
    offers = book.match_products({**APPLICATION, "loan_amount": 230000.0, "loan_to_value": 0.8846})
    standard = next(o for o in offers if o.product_id == "DL_STANDARD")
    assert standard.financed_amount == Decimal("221000.00")  # 260,000 × (1 − 0.15)


def test_refused_grade_gets_no_offer(book):
    assert book.match_products({**APPLICATION, "risk_grade": "E"}) == []


def test_schedule_figures():
    first, interest = schedule_figures(Decimal(120000), Decimal("0.12"), 12, "equal_installment")
    assert first == Decimal("10661.85")
    assert interest == Decimal("7942.26")  # 12 × 10661.855… − 120,000
    first, interest = schedule_figures(Decimal(120000), Decimal("0.12"), 12, "equal_principal")
    assert (first, interest) == (Decimal("11200.00"), Decimal("7800.00"))
