"""The vectorised nightly penalty gives exactly the scalar function's cents."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicing.batch import (
    daily_penalty_cents,
    decimals_from_cents,
    from_int_cents,
    penalty_base_cents,
    penalty_days_due,
    ppm_of_cents,
    rate_to_ppm,
    to_int_cents,
)
from servicing.money import to_cents
from servicing.penalty import OverdueInstallment, PenaltyPolicy, accrue, daily_penalty

D = Decimal
POLICIES = [
    PenaltyPolicy(),
    PenaltyPolicy(multiplier=D("2")),
    PenaltyPolicy(multiplier=D("1.3"), day_basis=365),
    PenaltyPolicy(multiplier=D("0.5"), include_interest=False),
    PenaltyPolicy(multiplier=D("1.25"), grace_days=3),
]


@pytest.mark.parametrize("policy", POLICIES)
def test_vectorised_equals_scalar_on_many_random_inputs(policy):
    rng = np.random.default_rng(20270115)
    n = 20_000
    bases = np.concatenate(
        [
            rng.integers(0, 10_000_000_000, n),  # up to 100 M CNY
            rng.integers(0, 100_000, n),  # small bases: rounding matters most
            np.arange(0, 3_000, 15),  # multiples of 15 cents: exact half cents at 8 % × 1.5
        ]
    ).astype(np.int64)
    rates = rng.integers(0, 360_001, bases.size).astype(np.int64)  # 0 – 36 % in millionths
    rates[-200:] = 80_000
    vectorised = daily_penalty_cents(bases, rates, policy)
    scalar = [
        to_int_cents(daily_penalty(from_int_cents(b), D(int(r)) / 1_000_000, policy))
        for b, r in zip(bases.tolist(), rates.tolist(), strict=True)
    ]
    assert vectorised.dtype == np.int64
    assert vectorised.tolist() == scalar


def test_half_cents_round_up():
    assert daily_penalty_cents([1_500, 7_500, 1_499], 80_000).tolist() == [1, 3, 0]


@settings(max_examples=200, deadline=None)
@given(
    principal=st.integers(min_value=0, max_value=5_000_000_000),
    interest=st.integers(min_value=0, max_value=500_000_000),
    rate_bp=st.integers(min_value=0, max_value=3_600),
    policy=st.sampled_from(POLICIES),
)
def test_single_loan_matches_accrue(principal, interest, rate_bp, policy):
    rate = D(rate_bp) / 10_000
    item = OverdueInstallment(
        "L", 1, date(2027, 3, 15), from_int_cents(principal), from_int_cents(interest), rate
    )
    day = date(2027, 3, 15) + timedelta(days=policy.grace_days + 1)
    expected = accrue(item, day, policy)
    base = penalty_base_cents([principal], [interest], policy)
    got = int(daily_penalty_cents(base, rate_to_ppm(rate), policy)[0])
    assert got == (0 if expected is None else to_int_cents(expected.amount))


@pytest.mark.parametrize("grace", [0, 1, 3, 10])
def test_nightly_days_due_equals_scalar_catch_up(grace):
    """Run every night: penalty_days_due × daily == the scalar accruals each night produces."""
    policy = PenaltyPolicy(grace_days=grace)
    due = date(2027, 3, 15)
    item = OverdueInstallment("L", 1, due, D("2466.97"), D("666.67"), D("0.08"))
    daily = int(daily_penalty_cents([313_364], 80_000, policy)[0])
    charged_scalar, charged_vector, last = [], [], None
    for late in range(0, 40):
        tonight = due + timedelta(days=late)
        start = (last or due) + timedelta(days=1)
        new = []
        if policy.grace_expired(due, tonight):
            d = start
            while d <= tonight:
                a = accrue(item, d, policy, as_of=tonight)
                new.append(to_int_cents(a.amount))
                d += timedelta(days=1)
            last = tonight
        charged_scalar.append(sum(new))
        charged_vector.append(int(penalty_days_due([late], policy)[0]) * daily)
    assert charged_vector == charged_scalar
    assert sum(charged_scalar) == daily * 39


def test_guards():
    with pytest.raises(ValueError):
        rate_to_ppm(D("0.0800001"))
    assert rate_to_ppm(D("0.0888")) == 88_800
    with pytest.raises(ValueError):
        daily_penalty_cents([-1], 80_000)
    with pytest.raises(OverflowError):
        daily_penalty_cents([2**62], 80_000)
    assert daily_penalty_cents(np.array([], dtype=np.int64), 80_000).size == 0
    base = penalty_base_cents([100, 200], [5, 5], PenaltyPolicy(include_interest=False))
    assert base.tolist() == [100, 200]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**11), st.integers(0, 10**6)), min_size=1, max_size=50))
def test_ppm_of_cents_is_the_decimal_rounding_rule(pairs):
    cents, ppm = zip(*pairs, strict=True)
    want = [to_int_cents(to_cents(from_int_cents(c) * D(p) / 1_000_000)) for c, p in pairs]
    assert ppm_of_cents(cents, ppm).tolist() == want


def test_ppm_of_cents_rounds_an_exact_half_up_and_refuses_what_it_cannot_hold():
    assert ppm_of_cents([1], [500_000]).tolist() == [1]  # 0.5 cent → 1 cent
    assert ppm_of_cents([1], [499_999]).tolist() == [0]
    with pytest.raises(ValueError):
        ppm_of_cents([-1], [1])
    with pytest.raises(OverflowError):
        ppm_of_cents([2**62], [10**6])


def test_decimals_from_cents_are_exact_amounts():
    assert decimals_from_cents([0, 1, 12345]) == [D("0.00"), D("0.01"), D("123.45")]
