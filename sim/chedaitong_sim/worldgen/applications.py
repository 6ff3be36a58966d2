"""Loan applications created by sales consultants, and the historical policy that booked them.

An application is one vehicle, one lease type and one financing plan. Customers whose first
application was not booked sometimes come back with a bigger down payment (a re-application
pointing at the previous one).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from chedaitong_sim.worldgen import vocab
from chedaitong_sim.worldgen.customers import Customers
from chedaitong_sim.worldgen.dealers import Dealers
from chedaitong_sim.worldgen.timeutil import DAY, HOUR, WORLD_END, sec

DIRECT_LEASE, LEASEBACK = 0, 1
LEASE_TYPES = ["direct_lease", "leaseback"]


@dataclass
class Apps:
    cust: np.ndarray
    applied_at: np.ndarray
    dealer: np.ndarray
    consultant: np.ndarray
    model: np.ndarray
    price_cents: np.ndarray
    lease_type: np.ndarray
    dp_cents: np.ndarray
    loan_cents: np.ndarray
    term: np.ndarray
    rate: np.ndarray
    installment_cents: np.ndarray
    prev: np.ndarray

    def append(self, other: Apps) -> Apps:
        return Apps(
            *[np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)]
        )

    def take(self, idx: np.ndarray) -> Apps:
        return Apps(*[getattr(self, f.name)[idx] for f in fields(self)])

    def __len__(self) -> int:
        return len(self.cust)


def annuity(principal_cents: np.ndarray, annual_rate: np.ndarray, term: np.ndarray) -> np.ndarray:
    """Equal monthly installment in cents."""
    r = annual_rate / 12
    return np.round(principal_cents * r / (1 - (1 + r) ** -term)).astype(np.int64)


def _rate(
    tp_score: np.ndarray, new_channel: np.ndarray, lease: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Quoted annual rate: product base + risk-tier and channel loadings."""
    r = (
        0.078
        + 0.03 * (tp_score < 600)
        + 0.015 * (tp_score < 540)
        + 0.015 * new_channel
        + 0.006 * (lease == DIRECT_LEASE)
        + rng.uniform(-0.004, 0.006, len(tp_score))
    )
    return np.round(r, 4)


def first_applications(
    rng: np.random.Generator, c: Customers, d: Dealers, tp_score: np.ndarray
) -> Apps:
    n = c.n
    dealer = c.dealer
    use_b = (d.brand_b[dealer] >= 0) & (rng.random(n) < 0.3)
    brand = np.where(use_b, d.brand_b[dealer], d.brand_a[dealer])
    # people shop within a budget of about one year's income: the brand's model closest to
    # it (70%) or any model of the brand, priced towards the budget within the model's range
    budget = c.income_cents / 100 * 12 * np.exp(rng.normal(-0.15, 0.35, n))
    first_model = np.searchsorted(vocab.MODEL_BRAND, brand, "left")
    n_models = np.searchsorted(vocab.MODEL_BRAND, brand, "right") - first_model
    mid = (vocab.MODEL_MIN + vocab.MODEL_MAX) / 2
    best = first_model.copy()
    for j in range(1, int(n_models.max())):
        cand = np.minimum(first_model + j, first_model + n_models - 1)
        better = np.abs(mid[cand] - budget) < np.abs(mid[best] - budget)
        best = np.where(better, cand, best)
    model = np.where(rng.random(n) < 0.7, best, first_model + rng.integers(0, 10**6, n) % n_models)
    lo, hi = vocab.MODEL_MIN[model], vocab.MODEL_MAX[model]
    price_yuan = np.clip(
        0.5 * np.clip(budget, lo, hi) + 0.5 * (lo + rng.random(n) * (hi - lo)), lo, hi
    )
    price_cents = (np.round(price_yuan / 100) * 100 * 100).astype(np.int64)
    lease = (rng.random(n) < 0.6).astype(np.int64)
    z = np.where(c.ring >= 0, 0.0, c.z)
    ratio = np.where(
        lease == LEASEBACK,
        np.clip(0.30 - 0.05 * z + rng.normal(0, 0.08, n), 0.15, 0.6),
        np.clip(0.12 - 0.02 * z + rng.normal(0, 0.04, n), 0.05, 0.3),
    )
    ratio[c.ring >= 0] = np.where(lease[c.ring >= 0] == LEASEBACK, 0.15, 0.05)  # minimum down
    # term: the shortest one whose installment looks affordable (rough 9% rate), else 36
    loan_est = price_cents * (1 - ratio)
    iti = {t: annuity(loan_est, np.full(n, 0.09), np.full(n, t)) / c.income_cents for t in (12, 24)}
    u = rng.random(n)
    term = np.where((iti[12] < 0.5) & (u < 0.4), 12, np.where((iti[24] < 0.5) & (u < 0.75), 24, 36))
    return _finance(
        rng,
        np.arange(n),
        c.first_applied_at,
        dealer,
        c.consultant,
        model,
        price_cents,
        lease,
        ratio,
        term,
        tp_score,
        c.new_channel,
        np.full(n, -1),
    )


def _finance(
    rng,
    cust,
    applied_at,
    dealer,
    consultant,
    model,
    price_cents,
    lease,
    ratio,
    term,
    tp_score,
    new_channel,
    prev,
) -> Apps:
    dp = (np.round(price_cents * ratio / 10_000) * 10_000).astype(np.int64)  # whole 100 yuan
    loan = price_cents - dp
    rate = _rate(tp_score, new_channel, lease, rng)
    return Apps(
        cust,
        applied_at,
        dealer,
        consultant,
        model,
        price_cents,
        lease,
        dp,
        loan,
        term.astype(np.int64),
        rate,
        annuity(loan, rate, term),
        prev,
    )


def reapplications(
    rng: np.random.Generator,
    first: Apps,
    not_booked: np.ndarray,
    ring: np.ndarray,
    tp_score: np.ndarray,
    new_channel: np.ndarray,
) -> Apps:
    """Some customers whose first application was not booked re-apply 2-40 days later with
    ten more points of down payment and, often, a longer term."""
    idx = np.flatnonzero(not_booked & (rng.random(len(first)) < np.where(ring, 0.1, 0.3)))
    m = len(idx)
    day = first.applied_at[idx] // DAY + rng.integers(2, 41, m)
    t = day * DAY + 9 * HOUR + rng.integers(0, 12 * HOUR, m)
    ok = t < sec(WORLD_END)
    idx, t = idx[ok], t[ok]
    a = first.take(idx)
    old_ratio = a.dp_cents / a.price_cents
    ratio = np.clip(old_ratio + 0.10, 0.05, 0.7)
    term = np.where(rng.random(len(idx)) < 0.6, 36, a.term)
    cust = a.cust
    return _finance(
        rng,
        cust,
        t,
        a.dealer,
        a.consultant,
        a.model,
        a.price_cents,
        a.lease_type,
        ratio,
        term,
        tp_score[cust],
        new_channel[cust],
        idx,
    )


def policy(rng: np.random.Generator, f: dict[str, np.ndarray]) -> np.ndarray:
    """The historical (pre-model) credit policy: knock-out rules plus a noisy manual review.
    Returns True for approved applications."""
    knock = (
        f["id_fail"]
        | f["bank_mismatch"]
        | ~f["liveness_pass"]
        | f["tp_blacklist"]
        | (f["tp_score"] < 520)
        | (f["bureau_worst_status_24m"] >= 4)
        | (f["bureau_overdue_amount"] > 2_000)
        | (f["bureau_inquiries_3m"] > 5)
        | (f["installment_to_income"] > 0.55)
        | (f["contacts_blacklist"] >= 2)
        | (f["sms_collection_180d"] >= 3)
    )
    manual_reject = rng.random(len(knock)) < 0.08 + 0.10 * (f["tp_score"] < 580)
    return ~knock & ~manual_reject
