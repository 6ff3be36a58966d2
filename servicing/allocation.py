"""Repayment allocation: which debts a payment pays, in which order.

Policy: by default penalty → interest → principal within an installment, oldest installment
first (`PENALTY_FIRST`). Products may choose another component order (`INTEREST_FIRST`,
`PRINCIPAL_FIRST`) and whether the order runs inside each installment (installment-major,
default) or across installments (component-major: every penalty, oldest first, before any
interest). Whatever is left once every item is paid is returned as `unapplied`, never dropped:
applied + unapplied == paid, always. Which items are eligible (due ones, the current period,
a settlement) is the caller's decision; allocation only orders and subtracts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from servicing.money import ZERO, DecimalLike, money


class Component(StrEnum):
    PENALTY = "penalty"
    INTEREST = "interest"
    PRINCIPAL = "principal"


@dataclass(frozen=True, slots=True)
class AllocationPolicy:
    order: tuple[Component, ...] = (Component.PENALTY, Component.INTEREST, Component.PRINCIPAL)
    installment_major: bool = True

    def __post_init__(self) -> None:
        order = tuple(Component(c) for c in self.order)  # accepts "penalty" etc. from config
        if sorted(order) != sorted(Component):
            raise ValueError(f"order must list each component once, got {self.order!r}")
        object.__setattr__(self, "order", order)


PENALTY_FIRST = AllocationPolicy()
INTEREST_FIRST = AllocationPolicy((Component.INTEREST, Component.PENALTY, Component.PRINCIPAL))
PRINCIPAL_FIRST = AllocationPolicy((Component.PRINCIPAL, Component.INTEREST, Component.PENALTY))


@dataclass(frozen=True, slots=True)
class Outstanding:
    """What is still owed on one installment, by component."""

    installment_no: int
    penalty: Decimal = ZERO
    interest: Decimal = ZERO
    principal: Decimal = ZERO

    def __post_init__(self) -> None:
        for component in Component:
            money(self.owed(component), component.value)

    def owed(self, component: Component) -> Decimal:
        return getattr(self, component.value)

    @property
    def total(self) -> Decimal:
        return self.penalty + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class AllocationLine:
    installment_no: int
    component: Component
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Allocation:
    paid: Decimal
    lines: tuple[AllocationLine, ...]
    balances: tuple[Outstanding, ...]  # the items after the payment, same order as given
    unapplied: Decimal  # surplus to refund or hold: applied + unapplied == paid

    @property
    def applied(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


def allocate(
    items: Sequence[Outstanding],
    amount: DecimalLike,
    policy: AllocationPolicy = PENALTY_FIRST,
) -> Allocation:
    """Pay `amount` against `items` (pure: returns the lines and the new balances)."""
    paid = money(amount, "payment")
    numbers = [item.installment_no for item in items]
    if len(set(numbers)) != len(numbers):
        raise ValueError("installment numbers must be unique")
    oldest_first = sorted(range(len(items)), key=lambda i: numbers[i])
    if policy.installment_major:
        steps = [(i, c) for i in oldest_first for c in policy.order]
    else:
        steps = [(i, c) for c in policy.order for i in oldest_first]

    balances = list(items)
    lines = []
    left = paid
    for index, component in steps:
        if left == 0:
            break
        owed = balances[index].owed(component)
        part = min(owed, left)
        if part > 0:
            left -= part
            balances[index] = replace(balances[index], **{component.value: owed - part})
            lines.append(AllocationLine(numbers[index], component, part))
    return Allocation(paid, tuple(lines), tuple(balances), left)
