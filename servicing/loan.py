"""Loan state: a schedule plus what happened to it (penalty accruals, repayments).

Everything is a pure function from state to state, so a loan can always be rebuilt from its
schedule, its repayments and its stored accruals (`state_at`), and replaying the same inputs
gives the same state.

Flow of a repayment (`apply_payment`): accrue penalty up to and including the payment date
(`accrue_to`, the very function the nightly job calls), then allocate. Regular payments pay
the installments already due (due date ≤ payment date) and, when the product allows it
(`prepay_current`, default on), the current period's installment in advance; anything beyond
that is `unapplied` — an early settlement is always an explicit request, never a side effect.

Early settlement (payoff) = all unpaid principal + unpaid interest of the due installments
+ the current period's interest + unpaid penalty accrued to the settlement date; later periods
carry no interest. Current-period interest is, by default (PRORATED), the scheduled interest ×
days elapsed since the period started / days in the period, rounded to the cent; FULL_PERIOD
charges the scheduled interest in full. Interest already paid in advance on the current period
is kept, never refunded (the charge is at least what was paid).

Payments must come in date order; a back-dated payment raises, and the caller rebuilds with
`state_at` (which sorts by date, same-day payments in the order given).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from servicing.allocation import (
    PENALTY_FIRST,
    Allocation,
    AllocationPolicy,
    Component,
    Outstanding,
    allocate,
)
from servicing.delinquency import DEFAULT_BUCKETS, Buckets, days_past_due
from servicing.money import ZERO, DecimalLike, money, to_cents
from servicing.penalty import (
    DEFAULT_PENALTY,
    ONE_DAY,
    Accrual,
    AccrualKey,
    OverdueInstallment,
    PenaltyPolicy,
    accruals_between,
)
from servicing.schedule import Schedule


class SettlementInterest(StrEnum):
    PRORATED = "prorated"  # scheduled interest × elapsed days / period days
    FULL_PERIOD = "full_period"  # the current period's scheduled interest in full


@dataclass(frozen=True, slots=True)
class ServicingPolicy:
    """Per-product servicing rules."""

    penalty: PenaltyPolicy = DEFAULT_PENALTY
    allocation: AllocationPolicy = PENALTY_FIRST
    buckets: Buckets = DEFAULT_BUCKETS
    settlement_interest: SettlementInterest = SettlementInterest.PRORATED
    prepay_current: bool = True


DEFAULT_POLICY = ServicingPolicy()


@dataclass(frozen=True, slots=True)
class InstallmentState:
    number: int
    period_start: date  # previous due date, or the disbursement date for the first
    due_date: date
    principal_due: Decimal
    interest_due: Decimal
    principal_paid: Decimal = ZERO
    interest_paid: Decimal = ZERO
    penalty_charged: Decimal = ZERO
    penalty_paid: Decimal = ZERO
    penalty_through: date | None = None  # last day penalty was accrued for

    @property
    def unpaid_principal(self) -> Decimal:
        return self.principal_due - self.principal_paid

    @property
    def unpaid_interest(self) -> Decimal:
        return self.interest_due - self.interest_paid

    @property
    def unpaid_penalty(self) -> Decimal:
        return self.penalty_charged - self.penalty_paid

    @property
    def unpaid_scheduled(self) -> Decimal:
        """Principal + interest still unpaid: what makes an installment late."""
        return self.unpaid_principal + self.unpaid_interest

    @property
    def unpaid_total(self) -> Decimal:
        return self.unpaid_scheduled + self.unpaid_penalty

    def outstanding(self) -> Outstanding:
        return Outstanding(
            self.number, self.unpaid_penalty, self.unpaid_interest, self.unpaid_principal
        )


@dataclass(frozen=True, slots=True)
class Repayment:
    paid_on: date
    amount: Decimal
    settle: bool = False  # an early-settlement request: must cover the payoff quote


@dataclass(frozen=True, slots=True)
class PayoffQuote:
    on: date
    principal: Decimal
    interest: Decimal
    penalty: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.penalty


@dataclass(frozen=True, slots=True)
class LoanState:
    loan_id: str
    schedule: Schedule
    policy: ServicingPolicy
    as_of: date  # penalty is accrued through this day
    installments: tuple[InstallmentState, ...]
    accruals: tuple[Accrual, ...] = ()
    unapplied: Decimal = ZERO  # all surplus handed back so far
    closed_on: date | None = None

    @property
    def outstanding_principal(self) -> Decimal:
        return sum((i.unpaid_principal for i in self.installments), ZERO)

    @property
    def due_interest(self) -> Decimal:
        """Unpaid interest of installments due on or before as_of."""
        return sum((i.unpaid_interest for i in self._due(inclusive=True)), ZERO)

    @property
    def overdue_principal(self) -> Decimal:
        return sum((i.unpaid_principal for i in self._due(inclusive=False)), ZERO)

    @property
    def overdue_interest(self) -> Decimal:
        return sum((i.unpaid_interest for i in self._due(inclusive=False)), ZERO)

    @property
    def outstanding_penalty(self) -> Decimal:
        return sum((i.unpaid_penalty for i in self.installments), ZERO)

    @property
    def dpd(self) -> int:
        unpaid = (i.due_date for i in self.installments if i.unpaid_scheduled > 0)
        return days_past_due(unpaid, self.as_of)

    @property
    def bucket(self) -> str:
        return self.policy.buckets.label(self.dpd)

    def _due(self, *, inclusive: bool) -> list[InstallmentState]:
        return [
            i
            for i in self.installments
            if i.due_date < self.as_of or (inclusive and i.due_date == self.as_of)
        ]


def open_loan(
    loan_id: str, schedule: Schedule, policy: ServicingPolicy = DEFAULT_POLICY
) -> LoanState:
    """A freshly disbursed loan: nothing paid, nothing accrued, as of the disbursement date."""
    starts = [schedule.disbursed_on] + [i.due_date for i in schedule.installments[:-1]]
    installments = tuple(
        InstallmentState(i.number, start, i.due_date, i.principal, i.interest)
        for i, start in zip(schedule.installments, starts, strict=True)
    )
    return LoanState(loan_id, schedule, policy, schedule.disbursed_on, installments)


def accrue_to(
    state: LoanState,
    through: date,
    *,
    ledger: Mapping[AccrualKey, Accrual] | None = None,
) -> tuple[LoanState, tuple[Accrual, ...]]:
    """Accrue penalty for every day up to and including `through` not accrued yet.

    Returns the new state and only the new accruals (what the nightly job inserts). Calling it
    again for the same or an earlier day returns no accruals. With `ledger` (accruals already
    stored), a stored accrual is taken as charged instead of recomputing it.
    """
    if through <= state.as_of:
        return state, ()
    if state.closed_on is not None:
        return replace(state, as_of=through), ()
    penalty = state.policy.penalty
    new: list[Accrual] = []
    installments = []
    for inst in state.installments:
        start = (inst.penalty_through or inst.due_date) + ONE_DAY
        if (
            start > through
            or inst.unpaid_scheduled == 0
            or not penalty.grace_expired(inst.due_date, through)
        ):
            installments.append(inst)
            continue
        item = OverdueInstallment(
            state.loan_id,
            inst.number,
            inst.due_date,
            inst.unpaid_principal,
            inst.unpaid_interest,
            state.schedule.annual_rate,
        )
        charged = accruals_between(item, start, through, penalty)
        if ledger:
            charged = _prefer_stored(charged, ledger, state.loan_id, inst.number, start, through)
        new.extend(charged)
        installments.append(
            replace(
                inst,
                penalty_charged=inst.penalty_charged + sum((a.amount for a in charged), ZERO),
                penalty_through=through,
            )
        )
    new_state = replace(
        state,
        as_of=through,
        installments=tuple(installments),
        accruals=state.accruals + tuple(new),
    )
    return new_state, tuple(new)


def payoff_quote(state: LoanState, on: date) -> PayoffQuote:
    """What settles the loan in full on `on` (penalty accrued through `on` included)."""
    _not_back_dated(state, on)
    state, _ = accrue_to(state, on)
    installments = _repriced_for_settlement(state, on)
    return PayoffQuote(
        on,
        principal=sum((i.unpaid_principal for i in installments), ZERO),
        interest=sum((i.unpaid_interest for i in installments), ZERO),
        penalty=sum((i.unpaid_penalty for i in installments), ZERO),
    )


def apply_payment(
    state: LoanState, amount: DecimalLike, paid_on: date, *, settle: bool = False
) -> tuple[LoanState, Allocation]:
    """Accrue to `paid_on`, then allocate the payment; returns the new state and the allocation
    (its lines, and `unapplied` for any surplus). With `settle`, the payment must cover
    `payoff_quote(state, paid_on).total` and closes the loan."""
    paid = money(amount, "payment")
    _not_back_dated(state, paid_on)
    state, _ = accrue_to(state, paid_on)
    if state.closed_on is not None:
        installments = state.installments
        eligible: list[InstallmentState] = []
    elif settle:
        quote = payoff_quote(state, paid_on)
        if paid < quote.total:
            raise ValueError(f"settlement needs {quote.total}, got {paid}")
        installments = _repriced_for_settlement(state, paid_on)
        eligible = [i for i in installments if i.unpaid_total > 0]
    else:
        installments = state.installments
        eligible = [i for i in installments if i.due_date <= paid_on and i.unpaid_total > 0]
        current = next((i for i in installments if i.due_date > paid_on), None)
        if state.policy.prepay_current and current is not None and current.unpaid_total > 0:
            eligible.append(current)

    allocation = allocate([i.outstanding() for i in eligible], paid, state.policy.allocation)
    paid_by_installment: dict[int, dict[Component, Decimal]] = {}
    for line in allocation.lines:
        parts = paid_by_installment.setdefault(line.installment_no, {})
        parts[line.component] = parts.get(line.component, ZERO) + line.amount
    updated = tuple(_pay(i, paid_by_installment.get(i.number)) for i in installments)
    closed_on = state.closed_on
    if closed_on is None and all(i.unpaid_total == 0 for i in updated):
        closed_on = paid_on
    new_state = replace(
        state,
        installments=updated,
        unapplied=state.unapplied + allocation.unapplied,
        closed_on=closed_on,
    )
    return new_state, allocation


def state_at(
    loan_id: str,
    schedule: Schedule,
    repayments: Iterable[Repayment],
    accruals: Iterable[Accrual] = (),
    *,
    as_of: date,
    policy: ServicingPolicy = DEFAULT_POLICY,
) -> LoanState:
    """Rebuild a loan at `as_of` from its schedule, repayments and stored accruals.

    Repayments after `as_of` are ignored. Stored accruals are authoritative (what was charged
    stays charged); days not stored are computed. A stored accrual on or before `as_of` that
    the replay does not charge means the history changed under it (e.g. a back-dated payment
    cleared the installment first): that raises, and the caller decides (typically rebuild
    without the stale accruals). Stored days still inside grace at `as_of` are just not owed
    yet.
    """
    ledger: dict[AccrualKey, Accrual] = {}
    for accrual in accruals:
        if accrual.loan_id != loan_id:
            raise ValueError(f"accrual {accrual.key} is not for loan {loan_id!r}")
        ledger[accrual.key] = accrual
    state = open_loan(loan_id, schedule, policy)
    for repayment in sorted(repayments, key=lambda r: r.paid_on):
        if repayment.paid_on > as_of:
            break
        state, _ = accrue_to(state, repayment.paid_on, ledger=ledger)
        state, _ = apply_payment(
            state, repayment.amount, repayment.paid_on, settle=repayment.settle
        )
    state, _ = accrue_to(state, as_of, ledger=ledger)
    charged = {a.key for a in state.accruals}
    due = {i.number: i.due_date for i in state.installments}
    grace = policy.penalty
    # Not reproduced although the replay went past that day: only legitimate while the day is
    # still inside an unexpired grace window (owed later, not yet at as_of).
    stale = sorted(
        k
        for k in ledger
        if k.accrual_date <= as_of
        and k not in charged
        and (k.installment_no not in due or grace.grace_expired(due[k.installment_no], as_of))
    )
    if stale:
        raise ValueError(f"stored accruals not reproduced by the replay: {stale[:3]}")
    return state


def _not_back_dated(state: LoanState, on: date) -> None:
    if on < state.as_of:
        raise ValueError(
            f"{on} is before the state's as-of date {state.as_of}; rebuild with state_at"
        )


def _prefer_stored(
    computed: list[Accrual],
    ledger: Mapping[AccrualKey, Accrual],
    loan_id: str,
    installment_no: int,
    start: date,
    end: date,
) -> list[Accrual]:
    by_day = {a.accrual_date: a for a in computed}
    day = start
    while day <= end:
        stored = ledger.get(AccrualKey(loan_id, installment_no, day))
        if stored is not None:
            by_day[day] = stored
        day += ONE_DAY
    return [by_day[d] for d in sorted(by_day)]


def _repriced_for_settlement(state: LoanState, on: date) -> tuple[InstallmentState, ...]:
    """Installments with interest as owed when settling on `on` (see module docstring)."""
    current = next((i.number for i in state.installments if i.due_date > on), None)
    result = []
    for inst in state.installments:
        if inst.due_date <= on:
            result.append(inst)
            continue
        charge = ZERO
        if inst.number == current:
            charge = inst.interest_due
            if state.policy.settlement_interest is SettlementInterest.PRORATED:
                elapsed = (on - inst.period_start).days
                length = (inst.due_date - inst.period_start).days
                charge = to_cents(inst.interest_due * elapsed / length)
        result.append(replace(inst, interest_due=max(charge, inst.interest_paid)))
    return tuple(result)


def _pay(inst: InstallmentState, parts: dict[Component, Decimal] | None) -> InstallmentState:
    if not parts:
        return inst
    return replace(
        inst,
        penalty_paid=inst.penalty_paid + parts.get(Component.PENALTY, ZERO),
        interest_paid=inst.interest_paid + parts.get(Component.INTEREST, ZERO),
        principal_paid=inst.principal_paid + parts.get(Component.PRINCIPAL, ZERO),
    )
