"""Credit bureau data: the PBOC credit report and a third-party risk report.

Accounts (credit cards and loans) carry a monthly delinquency level simulated as a Markov chain
whose hazard grows with the customer's hidden risk; a report pulled at time t shows every
account opened before t with its balance and a 24-month repayment string, plus the inquiries of
the last 24 months. Reports are delivered as JSON strings, like a vendor API returns them, and
the JSON is built column-wise with Arrow (no per-report Python).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chedaitong_sim.worldgen import text, vocab
from chedaitong_sim.worldgen.customers import Customers
from chedaitong_sim.worldgen.events import expand
from chedaitong_sim.worldgen.timeutil import (
    DAY,
    WORLD_END,
    WORLD_START,
    add_months_days,
    month_index,
    sec,
)

#: First month simulated: 24 months before the first application month.
T0 = int(month_index(sec(WORLD_START))) - 24
#: Last month simulated (the month before the observation cut-off).
TM = int(month_index(sec(WORLD_END) - 1))
W = TM - T0 + 1

INSTITUTIONS = vocab.BANKS + vocab.LENDING_PLATFORMS + [vocab.OUR_LENDER]
N_BANKS = len(vocab.BANKS)
OUR_INST = len(INSTITUTIONS) - 1
LOAN_TYPES = ["mortgage", "auto", "consumer", "business", "auto_finance_lease"]
INQUIRY_REASONS = ["loan_approval", "credit_card_approval", "guarantee_review", "self_query"]
STATUS_CHARS = np.frombuffer(b"N1234567", dtype=np.uint8)
CARD, LOAN = 0, 1


@dataclass
class Accounts:
    """One row per tradeline. Months are absolute month numbers (months since 1970-01)."""

    cust: np.ndarray
    kind: np.ndarray  # CARD / LOAN
    ltype: np.ndarray  # index in LOAN_TYPES (-1 for cards)
    inst: np.ndarray
    open_sec: np.ndarray
    open_m: np.ndarray
    close_m: np.ndarray  # last month with an outstanding balance (cards: far future)
    amount: np.ndarray  # loan principal / card limit, yuan
    payment: np.ndarray  # scheduled monthly payment, yuan
    util: np.ndarray  # card utilisation baseline
    level: np.ndarray  # (n, W) int8 delinquency level per month (0 = current, 1..7 = months late)
    noise: np.ndarray  # (n, W) float32 month-to-month utilisation noise

    def __len__(self) -> int:
        return len(self.cust)

    def append(self, other: Accounts) -> Accounts:
        return Accounts(
            *[
                np.concatenate([getattr(self, f), getattr(other, f)])
                for f in self.__dataclass_fields__
            ]
        )

    def sorted(self) -> Accounts:
        order = np.lexsort((self.open_sec, self.kind, self.cust))
        return Accounts(*[getattr(self, f)[order] for f in self.__dataclass_fields__])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_accounts(
    rng: np.random.Generator, c: Customers, z_obs: np.ndarray, fraud: np.ndarray
) -> Accounts:
    """Tradelines that exist before the customer comes to us (some opened in the meantime)."""
    n = c.n
    thin = rng.random(n) < 0.08 + 0.17 * (c.age < 25)
    n_cards = np.where(thin, 0, np.minimum(rng.poisson(np.exp(0.45 + 0.15 * z_obs)), 8))
    n_loans = np.where(thin, 0, np.minimum(rng.poisson(0.9 + 0.3 * np.maximum(z_obs, 0)), 6))
    cust = np.concatenate([expand(n_cards), expand(n_loans)])
    m = len(cust)
    kind = np.r_[np.zeros(n_cards.sum(), np.int8), np.ones(n_loans.sum(), np.int8)]
    is_loan = kind == LOAN
    married = c.marital[cust] == 1
    ltype = np.where(
        is_loan,
        np.select(
            [
                rng.random(m) < np.where(married & (c.age[cust] > 27), 0.35, 0.05),
                rng.random(m) < 0.12,
                (c.employment[cust] == 1) & (rng.random(m) < 0.5),
            ],
            [0, 1, 3],
            default=2,
        ),
        -1,
    )
    inst = np.where(
        (ltype == 2) & (rng.random(m) < 0.6),
        N_BANKS + rng.integers(0, len(vocab.LENDING_PLATFORMS), m),
        rng.integers(0, N_BANKS, m),
    )
    app_m = month_index(c.first_applied_at)[cust]
    max_back = np.maximum(np.minimum((c.age[cust] - 19) * 12, 180), 3)
    back = np.where(
        ltype == 2, rng.random(m) ** 1.5 * np.minimum(max_back, 36), rng.random(m) * max_back
    )
    # a few accounts open between two of our applications or during our loan
    back = np.where(rng.random(m) < 0.05, -rng.integers(1, 18, m), np.maximum(back, 1))
    open_m = app_m - back.astype(np.int64)
    open_sec = (
        open_m.astype("datetime64[M]").astype("datetime64[s]").astype(np.int64)
        + rng.integers(0, 28, m) * DAY
        + rng.integers(9, 20, m) * 3600
    )
    term = np.select(
        [ltype == 0, ltype == 1, ltype == 2, ltype == 3],
        [
            rng.choice([240, 300, 360], m),
            rng.choice([36, 60], m),
            rng.choice([12, 24, 36], m),
            rng.choice([12, 24, 36], m),
        ],
        default=0,
    )
    income_yuan = c.income_cents[cust] / 100
    amount = np.select(
        [ltype == 0, ltype == 1, ltype == 2, ltype == 3],
        [
            np.exp(rng.normal(np.log(900_000), 0.5, m)),
            np.exp(rng.normal(np.log(130_000), 0.4, m)),
            np.exp(rng.normal(np.log(30_000), 0.9, m)),
            np.exp(rng.normal(np.log(200_000), 0.7, m)),
        ],
        default=income_yuan * rng.uniform(1.5, 4.5, m),
    )
    amount = np.round(amount, -3).clip(1_000, None).astype(np.int64)
    rate = np.where(ltype == 0, 0.045, np.where(ltype == 2, 0.12, 0.07)) / 12
    term_f = np.maximum(term, 1)
    payment = (
        np.where(is_loan, amount * rate / (1 - (1 + rate) ** -term_f), 0).round().astype(np.int64)
    )
    close_m = np.where(is_loan, open_m + term, 10**6)
    mu = 0.15 + 0.6 * _sigmoid(1.4 * z_obs[cust] - 0.5)
    util = rng.beta(4.0 * mu, 4.0 * (1 - mu))
    noise = (rng.normal(0, 0.07, (m, W))).astype(np.float32)
    acc = Accounts(
        cust,
        kind,
        ltype,
        inst,
        open_sec,
        open_m,
        close_m,
        amount,
        payment,
        util,
        np.zeros((m, W), np.int8),
        noise,
    )
    hazard = _sigmoid(-5.6 + 1.2 * z_obs[cust] + 0.5 * fraud[cust])
    acc.level[:] = simulate_levels(
        rng, hazard, np.zeros(m, np.int64), np.zeros(m, np.int8), _sigmoid(z_obs[cust])
    )
    return acc.sorted()


def simulate_levels(
    rng: np.random.Generator,
    hazard: np.ndarray,
    start_col: np.ndarray,
    start_level: np.ndarray,
    risk01: np.ndarray,
    hazard_mult: np.ndarray | None = None,
) -> np.ndarray:
    """Delinquency levels per month: current accounts go 1 month late with `hazard`; late ones
    cure (45%), roll one level deeper (25-50%, riskier rolls more) or stay. Columns before
    `start_col` are left at 0 (the caller overwrites them); `hazard_mult` (n, W) scales it."""
    m = len(hazard)
    out = np.zeros((m, W), np.int8)
    cur = start_level.astype(np.int8).copy()
    p_roll = 0.25 + 0.25 * risk01
    for j in range(W):
        u = rng.random(m)
        h = hazard if hazard_mult is None else np.minimum(hazard * hazard_mult[:, j], 0.9)
        late = cur > 0
        nxt = np.where(
            late,
            np.where(u < 0.45, 0, np.where(u < 0.45 + p_roll, np.minimum(cur + 1, 7), cur)),
            (u < h).astype(np.int8),
        )
        active = j >= start_col
        cur = np.where(active, nxt, cur).astype(np.int8)
        out[:, j] = np.where(active, cur, 0)
    return out


# ---------------------------------------------------------------- inquiries
@dataclass
class Inquiries:
    cust: np.ndarray
    t: np.ndarray
    reason: np.ndarray
    inst: np.ndarray

    def append(self, other: Inquiries) -> Inquiries:
        return Inquiries(
            *[
                np.concatenate([getattr(self, f), getattr(other, f)])
                for f in self.__dataclass_fields__
            ]
        )

    def sorted(self) -> Inquiries:
        keep = self.t < sec(WORLD_END)
        order = np.lexsort((self.inst[keep], self.t[keep], self.cust[keep]))
        return Inquiries(*[getattr(self, f)[keep][order] for f in self.__dataclass_fields__])


def make_inquiries(
    rng: np.random.Generator,
    cust: np.ndarray,
    t_from: np.ndarray,
    span: np.ndarray,
    lam: np.ndarray,
    recent_power: np.ndarray | float = 1.0,
) -> Inquiries:
    """Hard and soft inquiries by other institutions: Poisson(lam) per row, placed `back` seconds
    before `t_from` when span < 0, or after it when span > 0."""
    cnt = rng.poisson(lam)
    owner = expand(cnt)
    k = len(owner)
    frac = rng.random(k) ** (recent_power if np.isscalar(recent_power) else recent_power[owner])
    t = t_from[owner] + (np.sign(span[owner]) * frac * np.abs(span[owner])).astype(np.int64)
    reason = rng.choice(4, k, p=[0.62, 0.26, 0.03, 0.09])
    inst = np.where(
        (reason == 0) & (rng.random(k) < 0.6),
        N_BANKS + rng.integers(0, len(vocab.LENDING_PLATFORMS), k),
        rng.integers(0, N_BANKS, k),
    )
    return Inquiries(cust[owner], t, reason, inst)


# ---------------------------------------------------------------- reports
@dataclass
class Pairs:
    """Accounts as they appear in reports: one row per (report, visible account)."""

    report: np.ndarray
    acc: np.ndarray
    balance: np.ndarray
    overdue_amount: np.ndarray
    level_now: np.ndarray
    status24: np.ndarray  # (k, 24) uint8 characters, oldest month first
    closed: np.ndarray


def _ranges(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group, index) for every index in [starts[g], stops[g])."""
    cnt = np.maximum(stops - starts, 0)
    g = expand(cnt)
    first = np.repeat(np.cumsum(cnt) - cnt, cnt)
    return g, starts[g] + np.arange(len(g)) - first


def account_pairs(acc: Accounts, r_cust: np.ndarray, r_t: np.ndarray) -> Pairs:
    """Every account of each report's customer opened before the report time, with balances
    and repayment strings as of the last complete month."""
    lo = np.searchsorted(acc.cust, r_cust, "left")
    hi = np.searchsorted(acc.cust, r_cust, "right")
    rep, a = _ranges(lo, hi)
    vis = acc.open_sec[a] < r_t[rep]
    rep, a = rep[vis], a[vis]
    last = month_index(r_t)[rep] - 1  # last complete month
    col = np.clip(last - T0, 0, W - 1)
    months = last[:, None] + np.arange(-23, 1)[None, :]
    cols = np.clip(months - T0, 0, W - 1)
    lev = acc.level[a[:, None], cols]
    chars = STATUS_CHARS[lev]
    chars = np.where(months < acc.open_m[a][:, None], ord("/"), chars)
    chars = np.where(months > acc.close_m[a][:, None], ord("C"), chars).astype(np.uint8)
    closed = last > acc.close_m[a]
    level_now = np.where(closed | (last < acc.open_m[a]), 0, acc.level[a, col])
    is_loan = acc.kind[a] == LOAN
    elapsed = np.maximum(last - acc.open_m[a], 0)
    term = np.maximum(acc.close_m[a] - acc.open_m[a], 1)
    loan_bal = acc.amount[a] * np.clip(1 - elapsed / term, 0, 1)
    card_bal = acc.amount[a] * np.clip(acc.util[a] + acc.noise[a, col], 0, 1.05)
    balance = np.where(is_loan, loan_bal, card_bal).round().astype(np.int64)
    balance = np.where(closed, 0, balance)
    card_due = np.maximum(np.round(balance * 0.1), 100)
    overdue = np.where(level_now > 0, level_now * np.where(is_loan, acc.payment[a], card_due), 0)
    return Pairs(
        rep, a, balance, overdue.astype(np.int64), level_now.astype(np.int64), chars, closed
    )


def inquiry_pairs(
    inq: Inquiries, r_cust: np.ndarray, r_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(report, inquiry) for inquiries in the 24 months before each report, newest first."""
    lo = np.searchsorted(inq.cust, r_cust, "left")
    hi = np.searchsorted(inq.cust, r_cust, "right")
    rep, i = _ranges(lo, hi)
    keep = (inq.t[i] < r_t[rep]) & (inq.t[i] >= r_t[rep] - 730 * DAY)
    rep, i = rep[keep], i[keep]
    order = np.lexsort((-inq.t[i], rep))
    return rep[order], i[order]


def report_features(
    acc: Accounts, inq: Inquiries, r_cust: np.ndarray, r_t: np.ndarray
) -> dict[str, np.ndarray]:
    """Bureau features exactly as data/README.md defines them from the report JSON."""
    n = len(r_cust)
    p = account_pairs(acc, r_cust, r_t)
    worst = np.zeros(n, np.int64)
    digits = np.where((p.status24 >= ord("1")) & (p.status24 <= ord("7")), p.status24 - ord("0"), 0)
    np.maximum.at(worst, p.report, digits.max(1).astype(np.int64) if len(digits) else 0)
    is_card = acc.kind[p.acc] == CARD
    is_open_loan = (acc.kind[p.acc] == LOAN) & ~p.closed
    lim = np.bincount(p.report, np.where(is_card, acc.amount[p.acc], 0), n)
    bal = np.bincount(p.report, np.where(is_card, p.balance, 0), n)
    oldest = np.full(n, np.nan)
    first_open = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_open, p.report, acc.open_m[p.acc])
    has = np.bincount(p.report, minlength=n) > 0
    oldest[has] = (month_index(r_t) - first_open)[has]
    rep, i = inquiry_pairs(inq, r_cust, r_t)
    hard = inq.reason[i] <= 1
    age_days = (r_t[rep] - inq.t[i]) / DAY
    out = {
        "bureau_worst_status_24m": worst,
        "bureau_overdue_amount": np.bincount(p.report, p.overdue_amount, n),
        "bureau_card_utilisation": np.where(lim > 0, bal / np.maximum(lim, 1), np.nan),
        "bureau_open_loans": np.bincount(p.report, is_open_loan, n).astype(np.int64),
        "bureau_months_since_oldest": oldest,
    }
    for months in (1, 3, 6, 12):
        out[f"bureau_inquiries_{months}m"] = np.bincount(
            rep, hard & (age_days <= months * 30.4375), n
        ).astype(np.int64)
    return out


def _date_text(seconds: np.ndarray) -> pa.Array:
    return pc.strftime(pa.array(np.asarray(seconds, np.int64), pa.timestamp("s")), "%Y-%m-%d")


def _ts_text(seconds: np.ndarray) -> pa.Array:
    return pc.strftime(
        pa.array(np.asarray(seconds, np.int64), pa.timestamp("s")), "%Y-%m-%dT%H:%M:%S"
    )


def pboc_json_batches(
    acc: Accounts,
    inq: Inquiries,
    c: Customers,
    r_cust: np.ndarray,
    r_t: np.ndarray,
    r_reason: np.ndarray,
    report_ids: pa.Array,
    chunk: int = 50_000,
) -> Iterator[pa.Array]:
    """JSON documents of the reports, `chunk` reports at a time (bounded memory)."""
    for s in range(0, len(r_cust), chunk):
        e = min(s + chunk, len(r_cust))
        yield _pboc_json(acc, inq, c, r_cust[s:e], r_t[s:e], r_reason[s:e], report_ids[s:e])


def _pboc_json(acc, inq, c, r_cust, r_t, r_reason, report_ids) -> pa.Array:
    n = len(r_cust)
    p = account_pairs(acc, r_cust, r_t)
    a = p.acc
    acc_id = text.ids("A", a + 1, 8)
    inst = text.pick(INSTITUTIONS, acc.inst[a])
    opened = _date_text(acc.open_sec[a])
    status24 = text.fixed_width(p.status24)
    is_loan = acc.kind[a] == LOAN
    open_day = acc.open_sec[a] // DAY
    due_day = add_months_days(open_day, np.where(is_loan, acc.close_m[a] - acc.open_m[a], 0))
    loans = text.concat(
        '{"account_id":"',
        acc_id,
        '","institution":"',
        inst,
        '","loan_type":"',
        text.pick(LOAN_TYPES, np.maximum(acc.ltype[a], 0)),
        '","opened_on":"',
        opened,
        '","due_on":"',
        _date_text(due_day * DAY),
        '","principal":',
        text.ints(acc.amount[a]),
        ',"balance":',
        text.ints(p.balance),
        ',"monthly_payment":',
        text.ints(acc.payment[a]),
        ',"status":"',
        text.pick(["open", "closed"], p.closed.astype(int)),
        '","overdue_months":',
        text.ints(p.level_now),
        ',"overdue_amount":',
        text.ints(p.overdue_amount),
        ',"repayment_24m":"',
        status24,
        '"}',
    )
    cards = text.concat(
        '{"account_id":"',
        acc_id,
        '","institution":"',
        inst,
        '","opened_on":"',
        opened,
        '","credit_limit":',
        text.ints(acc.amount[a]),
        ',"balance":',
        text.ints(p.balance),
        ',"status":"active","overdue_months":',
        text.ints(p.level_now),
        ',"overdue_amount":',
        text.ints(p.overdue_amount),
        ',"repayment_24m":"',
        status24,
        '"}',
    )
    li = np.flatnonzero(is_loan)
    ci = np.flatnonzero(~is_loan)
    loans_j = text.join_lists(text.group_offsets(p.report[li], n), loans.take(pa.array(li)))
    cards_j = text.join_lists(text.group_offsets(p.report[ci], n), cards.take(pa.array(ci)))
    rep, i = inquiry_pairs(inq, r_cust, r_t)
    inq_txt = text.concat(
        '{"date":"',
        _date_text(inq.t[i]),
        '","institution":"',
        text.pick(INSTITUTIONS, inq.inst[i]),
        '","reason":"',
        text.pick(INQUIRY_REASONS, inq.reason[i]),
        '"}',
    )
    inq_j = text.join_lists(text.group_offsets(rep, n), inq_txt)
    cu = pa.array(r_cust)
    return text.concat(
        '{"report_id":"',
        report_ids,
        '","report_time":"',
        _ts_text(r_t),
        '","query_reason":"',
        text.pick(["loan_approval", "post_loan_management"], r_reason),
        '","subject":{"name":"',
        c.name.take(cu),
        '","id_number":"',
        c.id_number.take(cu),
        '"},"loans":[',
        loans_j,
        '],"cards":[',
        cards_j,
        '],"inquiries":[',
        inq_j,
        "]}",
    )


# ---------------------------------------------------------------- third party
@dataclass
class ThirdParty:
    score: np.ndarray
    blacklist: np.ndarray
    court: np.ndarray
    ml7: np.ndarray
    ml30: np.ndarray
    ml90: np.ndarray
    apps90: np.ndarray


def third_party(rng: np.random.Generator, z_obs: np.ndarray, fraud: np.ndarray) -> ThirdParty:
    """A fintech bureau's score (300-900, higher = safer), blacklist hits and multi-lending."""
    n = len(z_obs)
    f = fraud.astype(float)
    score = np.clip(np.round(650 - 65 * z_obs - 50 * f + rng.normal(0, 45, n)), 300, 900)
    ml90 = rng.poisson(np.exp(0.1 + 0.65 * z_obs + 0.5 * f))
    ml30 = rng.binomial(ml90, 0.45)
    ml7 = rng.binomial(ml30, 0.3)
    return ThirdParty(
        score=score.astype(np.int64),
        blacklist=rng.random(n) < _sigmoid(-4.6 + 1.1 * z_obs + 2.2 * f),
        court=rng.random(n) < _sigmoid(-6.0 + 1.0 * z_obs),
        ml7=ml7,
        ml30=ml30,
        ml90=ml90,
        apps90=ml90 + rng.poisson(0.5 + 0.8 * ml90),
    )


def third_party_json(tp: ThirdParty, idx: np.ndarray, report_ids: pa.Array) -> pa.Array:
    """JSON of the third-party report for customers `idx` (one per application)."""
    s = tp.score[idx]
    level = np.where(s >= 650, 0, np.where(s >= 550, 1, 2))
    bl, court = tp.blacklist[idx], tp.court[idx]
    types = np.select(
        [bl & court, bl, court],
        ['"overdue_blacklist","court_dishonest"', '"overdue_blacklist"', '"court_dishonest"'],
        default="",
    )
    b = pa.array(["false", "true"])
    return text.concat(
        '{"report_id":"',
        report_ids,
        '","score":',
        text.ints(s),
        ',"risk_level":"',
        text.pick(["low", "medium", "high"], level),
        '","blacklist":{"hit":',
        b.take(pa.array((bl | court).astype(int))),
        ',"types":[',
        pa.array(types),
        ']},"multi_lending":{"platforms_7d":',
        text.ints(tp.ml7[idx]),
        ',"platforms_30d":',
        text.ints(tp.ml30[idx]),
        ',"platforms_90d":',
        text.ints(tp.ml90[idx]),
        ',"applications_90d":',
        text.ints(tp.apps90[idx]),
        "}}",
    )
