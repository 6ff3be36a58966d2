"""Product matches: exact decimal rates, one match per allowed term, the requested term first
(pricing the matches is the decision layer's: tests/decisioning/test_pricing.py)."""

from __future__ import annotations

from decimal import Decimal

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


def test_matches_carry_the_grade_rate_with_decimals(book):
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
    assert not hasattr(first, "financed_amount")  # money is priced by the decision layer


def test_refused_grade_gets_no_offer(book):
    assert book.match_products({**APPLICATION, "risk_grade": "E"}) == []
