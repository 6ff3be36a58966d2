"""Loan servicing money core: schedules, penalty interest, allocation, delinquency.

Pure functions over frozen dataclasses (no database, no web): the service layer persists what
they return. Money is `decimal.Decimal` rounded to the cent with ROUND_HALF_UP by one helper,
`servicing.money.to_cents`; rates are annual Decimal fractions (0.08 = 8 %), monthly interest
is rate/12, and dates are `datetime.date`. Each module's docstring states its policy.
"""

from servicing.allocation import (
    INTEREST_FIRST,
    PENALTY_FIRST,
    PRINCIPAL_FIRST,
    Allocation,
    AllocationLine,
    AllocationPolicy,
    Component,
    Outstanding,
    allocate,
)
from servicing.delinquency import DEFAULT_BUCKETS, Buckets, bucket, days_past_due
from servicing.loan import (
    DEFAULT_POLICY,
    InstallmentState,
    LoanState,
    PayoffQuote,
    Repayment,
    ServicingPolicy,
    SettlementInterest,
    accrue_to,
    apply_payment,
    open_loan,
    payoff_quote,
    state_at,
)
from servicing.money import to_cents
from servicing.penalty import (
    DEFAULT_PENALTY,
    Accrual,
    AccrualKey,
    OverdueInstallment,
    PenaltyPolicy,
    accruals_between,
    accrue,
    daily_penalty,
)
from servicing.schedule import (
    Installment,
    Method,
    OfferSummary,
    Schedule,
    build_schedule,
    equal_installment,
    equal_principal,
    offer_summary,
)

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_PENALTY",
    "DEFAULT_POLICY",
    "INTEREST_FIRST",
    "PENALTY_FIRST",
    "PRINCIPAL_FIRST",
    "Accrual",
    "AccrualKey",
    "Allocation",
    "AllocationLine",
    "AllocationPolicy",
    "Buckets",
    "Component",
    "Installment",
    "InstallmentState",
    "LoanState",
    "Method",
    "OfferSummary",
    "Outstanding",
    "OverdueInstallment",
    "PayoffQuote",
    "PenaltyPolicy",
    "Repayment",
    "Schedule",
    "ServicingPolicy",
    "SettlementInterest",
    "accrue",
    "accrue_to",
    "accruals_between",
    "allocate",
    "apply_payment",
    "bucket",
    "build_schedule",
    "daily_penalty",
    "days_past_due",
    "equal_installment",
    "equal_principal",
    "offer_summary",
    "open_loan",
    "payoff_quote",
    "state_at",
    "to_cents",
]
