"""Allocation order, partial / exact / over-payment, variants, conservation of money."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicing.allocation import (
    INTEREST_FIRST,
    PENALTY_FIRST,
    PRINCIPAL_FIRST,
    AllocationPolicy,
    Component,
    Outstanding,
    allocate,
)

D = Decimal
P, INT, PR = Component.PENALTY, Component.INTEREST, Component.PRINCIPAL

# Given newest first on purpose: allocation sorts oldest first itself.
ITEMS = [
    Outstanding(2, penalty=D("3.00"), interest=D("20.00"), principal=D("100.00")),
    Outstanding(1, penalty=D("5.00"), interest=D("30.00"), principal=D("200.00")),
]


def lines(allocation):
    return [(line.installment_no, line.component, line.amount) for line in allocation.lines]


def test_penalty_then_interest_then_principal_oldest_first():
    a = allocate(ITEMS, D("250.00"), PENALTY_FIRST)
    assert a == allocate(ITEMS, D("250.00"))  # the default
    assert lines(a) == [
        (1, P, D("5.00")),
        (1, INT, D("30.00")),
        (1, PR, D("200.00")),
        (2, P, D("3.00")),
        (2, INT, D("12.00")),
    ]
    assert a.unapplied == 0 and a.applied == D("250.00")
    by_no = {b.installment_no: b for b in a.balances}
    assert by_no[1].total == 0
    assert (by_no[2].penalty, by_no[2].interest, by_no[2].principal) == (0, D("8.00"), D("100.00"))
    assert [b.installment_no for b in a.balances] == [2, 1]  # same order as given


def test_partial_payment_stops_inside_a_component():
    a = allocate(ITEMS, D("20.00"))
    assert lines(a) == [(1, P, D("5.00")), (1, INT, D("15.00"))]
    assert a.unapplied == 0


def test_exact_payment_clears_everything():
    a = allocate(ITEMS, D("358.00"))
    assert a.unapplied == 0
    assert all(b.total == 0 for b in a.balances)


def test_over_payment_is_returned_as_unapplied():
    a = allocate(ITEMS, D("400.00"))
    assert a.applied == D("358.00")
    assert a.unapplied == D("42.00")
    assert allocate([], D("10.00")).unapplied == D("10.00")


def test_zero_payment_allocates_nothing():
    a = allocate(ITEMS, D("0"))
    assert a.lines == () and a.unapplied == 0 and a.balances == tuple(ITEMS)


def test_interest_first_and_principal_first_variants():
    assert lines(allocate(ITEMS, D("40.00"), INTEREST_FIRST)) == [
        (1, INT, D("30.00")),
        (1, P, D("5.00")),
        (1, PR, D("5.00")),
    ]
    assert lines(allocate(ITEMS, D("210.00"), PRINCIPAL_FIRST)) == [
        (1, PR, D("200.00")),
        (1, INT, D("10.00")),
    ]


def test_policy_from_config_strings():
    policy = AllocationPolicy(("interest", "penalty", "principal"))
    assert policy == INTEREST_FIRST
    with pytest.raises(ValueError):
        AllocationPolicy(("interest", "fees", "principal"))


def test_component_major_pays_all_penalties_first():
    policy = AllocationPolicy(installment_major=False)
    assert lines(allocate(ITEMS, D("50.00"), policy)) == [
        (1, P, D("5.00")),
        (2, P, D("3.00")),
        (1, INT, D("30.00")),
        (2, INT, D("12.00")),
    ]


def test_invalid_inputs():
    with pytest.raises(ValueError):
        AllocationPolicy((P, INT))
    with pytest.raises(ValueError):
        AllocationPolicy((P, P, INT))
    with pytest.raises(ValueError):
        allocate(ITEMS, D("-1.00"))
    with pytest.raises(ValueError):
        allocate(ITEMS, D("1.001"))
    with pytest.raises(ValueError):
        allocate([ITEMS[0], ITEMS[0]], D("1.00"))
    with pytest.raises(ValueError):
        Outstanding(1, penalty=D("-0.01"))


cents = st.integers(min_value=0, max_value=10_000_000).map(lambda c: D(c) / 100)
outstanding_lists = st.lists(st.tuples(cents, cents, cents), max_size=8).map(
    lambda rows: [Outstanding(n, *row) for n, row in enumerate(rows, start=1)]
)
policies = st.builds(
    AllocationPolicy,
    order=st.permutations(list(Component)).map(tuple),
    installment_major=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(outstanding_lists, cents, policies)
def test_allocation_conserves_money(items, paid, policy):
    a = allocate(items, paid, policy)
    assert a.applied + a.unapplied == paid
    assert a.unapplied >= 0
    owed = sum((i.total for i in items), D(0))
    assert a.applied == min(paid, owed)
    before = {i.installment_no: i for i in items}
    after = {b.installment_no: b for b in a.balances}
    for component in Component:
        for no, item in before.items():
            paid_here = sum(
                (x.amount for x in a.lines if x.installment_no == no and x.component == component),
                D(0),
            )
            assert after[no].owed(component) == item.owed(component) - paid_here >= 0
    if a.unapplied:
        assert all(b.total == 0 for b in a.balances)
    # Order: once a (installment, component) step is left unpaid, no later step receives money.
    steps = (
        [
            (i.installment_no, c)
            for i in sorted(items, key=lambda x: x.installment_no)
            for c in policy.order
        ]
        if policy.installment_major
        else [
            (i.installment_no, c)
            for c in policy.order
            for i in sorted(items, key=lambda x: x.installment_no)
        ]
    )
    paid_steps = [(x.installment_no, x.component) for x in a.lines]
    assert paid_steps == [s for s in steps if s in paid_steps]
    first_short = next((s for s in steps if after[s[0]].owed(s[1]) > 0), None)
    if first_short is not None:
        later = steps[steps.index(first_short) + 1 :]
        assert not set(later) & set(paid_steps)
