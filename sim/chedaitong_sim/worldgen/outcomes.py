"""Booked loans and their month-by-month repayment history, consistent with `bad_12m`.

A bad loan (bad_12m = 1) stops paying at installment k* <= 9, so it is 90+ days past due within
12 months of disbursement; 15% of those (never fraud) later cure by paying all arrears, the rest
are charged off at 180 days past due (no installments are listed after that). Good loans pay on
time or up to 80 days late, never reaching 90 days past due. History is cut at the observation
end: anything not yet paid then is `missed` with days_late counted to the cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chedaitong_sim.worldgen.applications import Apps
from chedaitong_sim.worldgen.events import expand, rank_within
from chedaitong_sim.worldgen.timeutil import (
    DAY,
    HOUR,
    MINUTE,
    WORLD_END,
    add_months_days,
    month_index,
    sec,
)

STATUSES = ["on_time", "late", "missed", "cured", "charged_off"]
ON_TIME, LATE, MISSED, CURED, CHARGED_OFF = range(5)
METHODS = ["equal_installment", "equal_principal"]
PENALTY_PER_DAY = 0.0005  # 0.05% of the overdue amount per day (罚息)


@dataclass
class Loans:
    app: np.ndarray  # application index
    cust: np.ndarray
    disbursed_at: np.ndarray
    principal_cents: np.ndarray
    rate: np.ndarray
    term: np.ndarray
    method: np.ndarray
    bad: np.ndarray
    default_k: np.ndarray  # first installment never paid on time (bad loans), else 0
    default_day: np.ndarray  # due day of installment k* (bad loans), else -1
    cured: np.ndarray
    chargeoff_day: np.ndarray  # day number, -1 when not charged off by the cut-off
    signing_at: np.ndarray


@dataclass
class Repayments:
    loan: np.ndarray
    k: np.ndarray
    due_day: np.ndarray
    paid_at: np.ndarray  # seconds, -1 when unpaid
    amount_due: np.ndarray
    amount_paid: np.ndarray
    status: np.ndarray
    days_late: np.ndarray
    penalty: np.ndarray
    partial_at: np.ndarray | None = None  # seconds of an earlier part-payment, -1 when none
    partial_amount: np.ndarray | None = None  # cents of that part-payment (0 when none)


def make_loans(
    rng: np.random.Generator,
    apps: Apps,
    booked_idx: np.ndarray,
    bad: np.ndarray,
    ring: np.ndarray,
    fraud: np.ndarray,
    signing_at: np.ndarray,
) -> Loans:
    """`bad`, `ring`, `fraud`, `signing_at` are per booked application."""
    m = len(booked_idx)
    a = apps.take(booked_idx)
    review = np.exp(rng.normal(np.log(40 * MINUTE), 0.6, m)).astype(np.int64)
    review += (rng.random(m) < 0.15) * 18 * HOUR
    disbursed = signing_at + review
    term = a.term
    method = (rng.random(m) < 0.15).astype(np.int64)
    early = ring | fraud
    k_star = np.where(
        early & (rng.random(m) < 0.8),
        1,
        1 + (rng.random(m) ** 1.4 * np.minimum(9, term)).astype(np.int64),
    )
    k_star = np.where(bad, np.minimum(k_star, np.minimum(9, term)), 0)
    disb_day = disbursed // DAY
    default_day = np.where(bad, add_months_days(disb_day, k_star), -1)
    cured = bad & ~early & (rng.random(m) < 0.15)
    co = np.where(bad & ~cured, default_day + 180, -1)
    co = np.where(co >= sec(WORLD_END) // DAY, -1, co)
    return Loans(
        booked_idx,
        a.cust,
        disbursed,
        a.loan_cents,
        a.rate,
        term,
        method,
        bad,
        k_star,
        default_day,
        cured,
        co,
        signing_at,
    )


def make_repayments(rng: np.random.Generator, L: Loans, pd: np.ndarray) -> Repayments:
    """Installments due before the cut-off with their payment outcome (vectorised)."""
    end_day = sec(WORLD_END) // DAY
    loan = expand(L.term)
    k = rank_within(loan) + 1
    disb_day = L.disbursed_at // DAY
    due = add_months_days(disb_day[loan], k)
    unpaid_from_default = L.bad[loan] & (k >= L.default_k[loan])
    raw_co = np.where(L.bad & ~L.cured, L.default_day + 180, np.iinfo(np.int64).max)
    keep = (due < end_day) & (due < raw_co[loan])
    loan, k, due = loan[keep], k[keep], due[keep]
    unpaid_from_default = unpaid_from_default[keep]
    n = len(loan)

    # amounts
    P, r, T = L.principal_cents[loan], L.rate[loan] / 12, L.term[loan]
    ann = np.round(P * r / (1 - (1 + r) ** -T))
    eqp = np.round(P / T + (P - (k - 1) * P / T) * r)
    amount = np.where(L.method[loan] == 1, eqp, ann).astype(np.int64)

    # normal behaviour
    p = pd[loan] * np.where(L.bad[loan], 2.0, 1.0)
    u = rng.random(n)
    p_late = np.minimum(0.03 + 0.6 * p, 0.5)
    p_long = np.minimum(0.002 + 0.06 * p, 0.1)
    days = np.where(
        u < p_long,
        rng.integers(30, 81, n),
        np.where(u < p_long + p_late, rng.integers(1, 30, n), 0),
    )
    early_days = rng.integers(0, 6, n)
    paid_day = np.where(days > 0, due + days, due - early_days)
    status = np.where(days >= 30, CURED, np.where(days > 0, LATE, ON_TIME))

    # bad loans from k*: unpaid until a cure or charge-off
    cure_day = np.where(L.cured, L.default_day + 90 + rng.integers(0, 61, len(L.cured)), -1)
    in_arrears = unpaid_from_default & ~(L.cured[loan] & (due > cure_day[loan]))
    cured_now = in_arrears & L.cured[loan]
    paid_day = np.where(cured_now, cure_day[loan], paid_day)
    status = np.where(cured_now, CURED, status)
    never = in_arrears & ~L.cured[loan]
    paid_day = np.where(never, np.iinfo(np.int64).max // 4, paid_day)

    # what is visible at the cut-off
    unpaid = paid_day >= end_day
    co_day = L.chargeoff_day[loan]
    charged = unpaid & never & (co_day >= 0)
    status = np.where(unpaid, np.where(charged, CHARGED_OFF, MISSED), status)
    days_late = np.where(
        unpaid, np.where(charged, co_day - due, end_day - due), np.maximum(paid_day - due, 0)
    )
    tod = np.where(
        status == ON_TIME,
        rng.integers(8 * HOUR, 22 * HOUR, n),
        rng.integers(9 * HOUR, 21 * HOUR, n),
    )
    paid_at = np.where(unpaid, -1, paid_day * DAY + tod)
    paid_at = np.where(unpaid, -1, np.maximum(paid_at, L.disbursed_at[loan] + HOUR))
    amount_paid = np.where(unpaid, 0, amount)
    penalty = np.round(amount * PENALTY_PER_DAY * np.where(status == ON_TIME, 0, days_late))
    return Repayments(
        loan,
        k,
        due,
        paid_at,
        amount,
        amount_paid,
        status.astype(np.int64),
        days_late.astype(np.int64),
        penalty.astype(np.int64),
    )


def monthly_levels(L: Loans, R: Repayments, t0: int, width: int) -> np.ndarray:
    """Bureau delinquency level (months past due, 0..7) of each loan at each month end, from the
    oldest unpaid installment; after a charge-off the level keeps growing to 7."""
    m = len(L.app)
    dpd = np.zeros((m, width), np.int64)
    month_end_day = (np.arange(width) + t0 + 1).astype("datetime64[M]").astype(
        "datetime64[D]"
    ).astype(np.int64) - 1
    unpaid_until = np.where(R.paid_at < 0, np.iinfo(np.int64).max // 4, R.paid_at // DAY)
    late = unpaid_until > R.due_day
    i = np.flatnonzero(late)
    first_m = month_index(R.due_day[i] * DAY) - t0
    last_m = np.minimum(month_index(np.minimum(unpaid_until[i], 10**6) * DAY) - t0, width) - 1
    last_m = np.where(unpaid_until[i] > 10**6, width - 1, last_m)
    cnt = np.maximum(last_m - first_m + 1, 0)
    row = expand(cnt)
    col = first_m[row] + rank_within(row)
    ok = (col >= 0) & (col < width)
    row, col = row[ok], col[ok]
    inst = i[row]
    d = month_end_day[col] - R.due_day[inst]
    d = np.where(unpaid_until[inst] > month_end_day[col], d, 0)
    np.maximum.at(dpd, (R.loan[inst], col), d)
    # charged-off loans: arrears never stop growing
    co = np.flatnonzero(L.chargeoff_day >= 0)
    if len(co):
        start = month_index(L.default_day[co] * DAY) - t0
        cols = np.arange(width)[None, :]
        grow = np.maximum(month_end_day[None, :] - L.default_day[co][:, None], 0)
        dpd[co] = np.where(cols >= start[:, None], np.maximum(dpd[co], grow), dpd[co])
    return np.minimum((dpd + 29) // 30, 7).astype(np.int8)


@dataclass
class Stress:
    """Per loan, the days [onset, end) of financial stress before a default, before a good
    loan's long delinquency (30–80 days late, then cured) or a recovered hardship; -1 for loans
    without one. ``deepens``: the trouble grows to the end (a default or a long delinquency
    ahead), else it peaks mid-way and eases off. See `stress_windows`."""

    onset: np.ndarray
    end: np.ndarray
    deepens: np.ndarray | None = None

    def covers(self, loan: np.ndarray, day: np.ndarray) -> np.ndarray:
        return (self.onset[loan] >= 0) & (day >= self.onset[loan]) & (day < self.end[loan])


#: Share of defaults — and of good loans' long delinquencies — that give warning.
WARNED = 0.80


def stress_windows(rng: np.random.Generator, L: Loans, R: Repayments | None = None) -> Stress:
    """When trouble starts, months ahead of the default it leads to — or for a good loan a
    hardship that passes.

    80% of bad loans give warning: stress sets in a lead time before the default day (gamma,
    mean ~4.5 months, 30–300 days, never before the tenth day on book); the other 20% default
    without warning (job loss, fraud). A good loan that once falls 30–80 days behind (``R``,
    `make_repayments`: it cures before 90) got there the same way: 80% of them show the same
    run-up before that installment's due date — a long delinquency that cures is a hardship
    that went further, not a coin flip on one month. 10% of the other good loans live through
    a hardship of 2–5 months that recovers — the same traces with no default or long
    delinquency after them, so a trace is evidence, not a label."""
    m = len(L.app)
    disb_day = L.disbursed_at // DAY
    end_day = sec(WORLD_END) // DAY
    onset = np.full(m, -1, np.int64)
    end = np.full(m, -1, np.int64)
    u = rng.random(m)
    lead = np.clip(rng.gamma(4.0, 35.0, m), 30, 300).astype(np.int64)
    warned = L.bad & (u < WARNED)
    onset = np.where(warned, np.maximum(L.default_day - lead, disb_day + 10), onset)
    end = np.where(warned, L.default_day, end)
    life = np.maximum(np.minimum(add_months_days(disb_day, L.term), end_day) - disb_day, 1)
    start = disb_day + 10 + (rng.random(m) * np.maximum(life - 10, 1)).astype(np.int64)
    length = rng.integers(60, 151, m)
    long_due = np.full(m, np.iinfo(np.int64).max)
    if R is not None:  # each good loan's first installment 30+ days late
        long_late = (R.days_late >= 30) & ~L.bad[R.loan]
        np.minimum.at(long_due, R.loan[long_late], R.due_day[long_late])
    run_up = ~L.bad & (long_due < np.iinfo(np.int64).max) & (u < WARNED)
    onset = np.where(run_up, np.maximum(long_due - lead, disb_day + 10), onset)
    end = np.where(run_up, long_due, end)
    hard = ~L.bad & ~run_up & (rng.random(m) < 0.10)
    onset = np.where(hard, start, onset)
    end = np.where(hard, start + length, end)
    ok = (onset >= 0) & (end > onset)
    return Stress(np.where(ok, onset, -1), np.where(ok, end, -1), (warned | run_up) & ok)


def apply_stress(rng: np.random.Generator, L: Loans, R: Repayments, S: Stress) -> Repayments:
    """Installments due under stress that would have been paid on time are paid late inside
    the grace month and partly paid first (30–80% of the installment around the due date, the
    rest when the late payment comes), more so as the stress deepens: at the onset 35% late by
    1–7 days and 15% part-paid, rising to 75% late by up to 25 days and 45% part-paid just
    before the default (still "current" once paid); a hardship that passes peaks mid-way and
    eases off. A few loans without stress part-pay now and
    then (1.5%). Unpaid rows are untouched."""
    end_day = sec(WORLD_END) // DAY
    n = len(R.loan)
    stressed = S.covers(R.loan, R.due_day)
    on_time = R.status == ON_TIME
    span = np.maximum(S.end[R.loan] - S.onset[R.loan], 1)
    progress = np.where(stressed, np.clip((R.due_day - S.onset[R.loan]) / span, 0, 1), 0.0)
    # stress before a default (or a long delinquency) deepens to the end; a hardship that
    # passes peaks and eases off
    deepens = L.bad if S.deepens is None else S.deepens
    depth = np.where(deepens[R.loan], progress, 1 - np.abs(2 * progress - 1))
    u = rng.random(n)
    late = stressed & on_time & (u < 0.35 + 0.4 * depth)
    days = 1 + (rng.random(n) * (7 + 18 * depth)).astype(np.int64)
    partial = on_time & np.where(stressed, rng.random(n) < 0.15 + 0.3 * depth,
                                 rng.random(n) < 0.015)
    # a part-payment leaves the rest to a later payment
    days = np.where(partial & ~late, rng.integers(3, 21, n), days)
    late |= partial
    share = rng.uniform(0.3, 0.8, n)
    part_day = R.due_day - rng.integers(0, 3, n)
    paid_day = np.where(late, R.due_day + days, R.paid_at // DAY)
    tod = rng.integers(9 * HOUR, 21 * HOUR, n)
    visible = paid_day < end_day
    paid_at = np.where(late, np.where(visible, paid_day * DAY + tod, -1), R.paid_at)
    status = np.where(late, np.where(visible, LATE, MISSED), R.status)
    days_late = np.where(late, np.where(visible, days, end_day - R.due_day), R.days_late)
    part_at = np.maximum(part_day * DAY + tod // 2, L.disbursed_at[R.loan] + HOUR)
    partial &= part_at < end_day * DAY
    partial_at = np.where(partial, part_at, -1)
    partial_amount = np.where(partial, np.round(R.amount_due * share), 0).astype(np.int64)
    amount_paid = np.where(paid_at >= 0, R.amount_due, partial_amount)
    penalty = np.where(late, np.round(R.amount_due * PENALTY_PER_DAY * days_late), R.penalty)
    return Repayments(R.loan, R.k, R.due_day, paid_at, R.amount_due, amount_paid,
                      status.astype(np.int64), days_late.astype(np.int64),
                      penalty.astype(np.int64), partial_at, partial_amount)
