"""What happens after the application: app installs/uninstalls, the app's continuing uploads,
vehicle GPS tracks and the borrower's bureau trail.

Bad loans leave traces before and around default that post-loan monitoring can pick up: the app
is uninstalled, the GPS tracker goes offline or the car leaves the province, other lenders start
sending overdue notices and new credit inquiries appear on the bureau report.

How the traces precede default (lead times, as lenders see them):

- **Months ahead (stress window, `outcomes.stress_windows`)**: 80% of bad loans enter financial
  stress a lead time before the default day (gamma, mean ~4.5 months, 30–300 days); 20% default
  without warning. While it lasts, installments are paid late inside the grace month (35% at
  the onset rising to 75% before the default, by 1–7 rising to up to 25 days: the loan is
  "current" again once paid) or partly paid first (15% rising to 45%: 30–80% around the due
  date, the rest later) — `outcomes.apply_stress`; the car travels out of the province more
  (trips of 3–10 days, ~1.5 a month) and the tracker drops out more (`vehicle_gps_chunks`); other
  lenders' overdue and collection SMS arrive (~2 a month, rising, `_stress_sms`); the bureau
  trail worsens from the onset month (other lenders' delinquency, `world.py`).
  A good loan that falls 30–80 days behind once and cures (`outcomes.make_repayments`: about 3%
  of good loans; such episodes are about half of the "60+ DPD within 6 months" events on loans
  current at a month-end) has the same run-up in 80% of cases, deepening to that installment's
  due date. Without it those delinquencies were a coin flip on one month with no precursor, so
  half of what a behaviour score must foresee on current loans was unforeseeable by
  construction (`bench/behaviour_signal.py`, 20k world: 30% of current bads were in stress at
  the snapshot, 64% with the run-up; a latent-state oracle's AUC on current loans 0.72 → 0.85).
  10% of the other good loans live through a 2–5 month hardship (peaking mid-way, then easing
  off) and no default or long delinquency after it, so a trace is evidence, not a label.
- **How the traces combine (a hardship that passes against the road to default)**: given the
  stress, the traces are not independent of its kind, as in real books. A borrower in a
  passing hardship (illness, a late salary) pays late and in part like one heading for
  default, and other lenders chase both, but keeps the car at home and the tracker in sight
  (no extra trips or gaps, `_stress_trips`), keeps the app (`app_lifecycle`: an ordinary
  removal waits for the hardship's end) and takes no new credit (banks refuse a late payer;
  one who will recover cuts back). One whose stress deepens travels and drops out of sight as
  before and borrows from online platforms to pay the installments (以贷养贷, `new_credit`:
  ~0.5 new platform loans a month, in refreshed reports from the next month, each after a hard
  inquiry). Outside any stress every borrower opens new bank cards and loans now and then,
  the creditworthy more (`new_credit`). So a new loan elsewhere, a trip or a tracker gap says
  little about a borrower paying on time and much about one paying late: evidence that
  matters more for a loan already slipping, which a scorecard adding up each feature's bins
  cannot fit and a tree model can.
- **Weeks ahead**: the tracker is removed 0–40 days before the default day (55%, 85% in rings)
  or the car moved to another province 0–60 days before (45% of the rest); other lenders chase
  from 30 days before; new inquiries cluster towards the default.
- **Around default**: the app is uninstalled at default − 5 ± 15 days (65%, 90% in rings); our
  own overdue reminders start after it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from chedaitong_sim.worldgen import bureau, device, geo
from chedaitong_sim.worldgen.customers import Customers
from chedaitong_sim.worldgen.events import expand, rank_within
from chedaitong_sim.worldgen.outcomes import Loans, Repayments, Stress
from chedaitong_sim.worldgen.timeutil import (
    DAY,
    HOUR,
    WORLD_END,
    add_months_days,
    month_index,
    sec,
)

END = sec(WORLD_END)
INF = np.iinfo(np.int64).max // 4
INSTALL, UNINSTALL, REINSTALL = range(3)
PING_RATE = 0.35  # share of days a financed car is driven (the tracker reports when moving)
APP_EVENT_TYPES = ["install", "uninstall", "reinstall"]


def app_lifecycle(
    rng: np.random.Generator,
    c: Customers,
    last_applied: np.ndarray,
    loan_of_cust: np.ndarray,
    L: Loans,
    S: Stress | None = None,
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Install at registration, maybe uninstall, maybe reinstall.

    With the stress windows ``S``: a borrower in a hardship that passes keeps the app through
    it (it is how they pay part and talk to us) — an ordinary removal that would fall inside
    the window waits for its end.

    Returns (event rows, uninstall time, reinstall time) per customer (INF when none)."""
    n = c.n
    uninst = np.full(n, INF)
    reinst = np.full(n, INF)
    has = loan_of_cust >= 0
    li = loan_of_cust[has]
    bad = L.bad[li]
    ring = c.ring[has] >= 0
    disb = L.disbursed_at[li]
    # borrowers
    u = rng.random(len(li))
    t_bad = L.default_day[li] * DAY + rng.normal(-5 * DAY, 15 * DAY, len(li)).astype(np.int64)
    t_good = disb + (rng.random(len(li)) * np.maximum(END - disb, DAY)).astype(np.int64)
    drop = np.where(bad, u < np.where(ring, 0.9, 0.65), u < 0.12)
    if S is not None:
        deepens = L.bad if S.deepens is None else S.deepens
        on, off = S.onset[li] * DAY, S.end[li] * DAY
        inside = (S.onset[li] >= 0) & ~deepens[li] & (t_good >= on) & (t_good < off)
        t_good = np.where(inside, off + (t_good - on), t_good)
    t_un = np.maximum(np.where(bad, t_bad, t_good), disb + DAY)
    back = rng.random(len(li)) < np.where(bad, 0.15, 0.5)
    gap = np.where(bad, rng.integers(10, 61, len(li)), rng.integers(1, 31, len(li))) * DAY
    uninst[has] = np.where(drop, t_un, INF)
    reinst[has] = np.where(drop & back, t_un + gap, INF)
    # applicants without a loan mostly remove the app within weeks
    no = ~has
    k = no.sum()
    drop = rng.random(k) < 0.7
    t_un = last_applied[no] + HOUR + rng.exponential(15 * DAY, k).astype(np.int64)
    uninst[no] = np.where(drop, t_un, INF)
    reinst[no] = np.where(drop & (rng.random(k) < 0.05), t_un + rng.integers(5, 90, k) * DAY, INF)

    cust = [np.arange(n), np.flatnonzero(uninst < INF), np.flatnonzero(reinst < INF)]
    typ = [np.full(len(x), i) for i, x in enumerate(cust)]
    t = [c.registered_at - 90, uninst[cust[1]], reinst[cust[2]]]
    lag = [
        rng.integers(3, 30, n),
        rng.integers(HOUR, 72 * HOUR, len(cust[1])),
        rng.integers(3, 30, len(cust[2])),
    ]
    rows = {
        "cust": np.concatenate(cust),
        "kind": np.concatenate(typ),
        "event_time": np.concatenate(t),
    }
    rows["uploaded_at"] = rows["event_time"] + np.concatenate(lag)
    keep = rows["uploaded_at"] < END
    rows = {k_: v[keep] for k_, v in rows.items()}
    return rows, uninst, reinst


def _active(t: np.ndarray, cust: np.ndarray, uninst: np.ndarray, reinst: np.ndarray) -> np.ndarray:
    return (t < uninst[cust]) | (t >= reinst[cust])


def continuing_uploads(
    rng: np.random.Generator,
    c: Customers,
    d,
    L: Loans,
    R: Repayments,
    loan_of_cust: np.ndarray,
    uninst: np.ndarray,
    reinst: np.ndarray,
    ev: dict,
    apps_installment: np.ndarray,
    stress: tuple[np.random.Generator, Stress] | None = None,
) -> tuple[dict, dict]:
    """GPS pings and SMS after the first application, while the app is installed.

    ``stress`` (its own generator and the loans' stress windows): other lenders' overdue and
    collection notices arrive through the window, about one a month rising to three."""
    start = c.first_applied_at + HOUR
    days = np.maximum(END - start, 0) / DAY
    borrower = loan_of_cust >= 0
    z_obs = ev["z_obs"]

    rate = np.where(borrower, 1.5, 0.4) / 30
    cu = expand(rng.poisson(rate * days))
    t = start[cu] + (rng.random(len(cu)) * (END - start[cu])).astype(np.int64)
    cls = rng.choice(3, len(cu), p=[0.75, 0.15, 0.10])
    gps = device._gps_points(rng, c, d, cu, t, cls)
    gps = {k: v[_active(gps["event_time"], cu, uninst, reinst)] for k, v in gps.items()}

    parts = []  # (customer, time, kind, installment no, days past due, amount in cents)

    def part(cu, t, kind, k=None, days=None, amount=None):
        z = np.zeros(len(cu), np.int64)
        parts.append(
            (
                cu,
                t,
                kind,
                z if k is None else k,
                z - 1 if days is None else days,
                z - 1 if amount is None else amount,
            )
        )

    benign = np.array(
        [
            device.VERIFY,
            device.VERIFY2,
            device.BANK_IN,
            device.BANK_OUT,
            device.CARD_BILL,
            device.DELIVERY,
            device.PROMO,
        ]
    )
    cu = expand(rng.poisson(1.0 / 30 * days))
    t = start[cu] + (rng.random(len(cu)) * (END - start[cu])).astype(np.int64)
    part(cu, t, benign[rng.integers(0, len(benign), len(cu))])
    # other lenders' overdue notices for risky people
    cu = expand(rng.poisson(np.exp(-4.0 + z_obs) / 30 * days))
    t = start[cu] + (rng.random(len(cu)) * (END - start[cu])).astype(np.int64)
    part(cu, t, np.full(len(cu), device.LOAN_OVERDUE))
    # our repayment reminders three days before each due date, quoting the installment
    part(
        L.cust[R.loan],
        (R.due_day - 3) * DAY + 10 * HOUR,
        np.full(len(R.loan), device.OUR_REMIND),
        k=R.k,
        amount=R.amount_due,
    )
    # around default: others chase them first, then we do, weekly, quoting days past due
    bl = np.flatnonzero(L.bad)
    d0 = L.default_day[bl] * DAY
    stop = np.where(L.chargeoff_day[bl] >= 0, L.chargeoff_day[bl] * DAY + 30 * DAY, END)
    span = np.maximum(stop - d0, 0)
    own = expand((span // (7 * DAY)).astype(np.int64))
    week = rank_within(own) + 1
    inst = apps_installment[L.app[bl]][own]
    part(
        L.cust[bl][own],
        d0[own] + week * 7 * DAY + 11 * HOUR,
        np.full(len(own), device.OUR_OVERDUE),
        days=week * 7,
        amount=inst * np.minimum(1 + week * 7 // 30, 6),
    )
    oth = expand(rng.poisson(2.0 / 30 * (span + 30 * DAY) / DAY))
    t = d0[oth] - 30 * DAY + (rng.random(len(oth)) * (span[oth] + 30 * DAY)).astype(np.int64)
    part(
        L.cust[bl][oth],
        t,
        rng.choice([device.LOAN_OVERDUE, device.COLLECT_PLATFORM, device.COLLECT_AGENCY], len(oth)),
    )

    cu, t, kind, k, dpd, amt = (np.concatenate([p[i] for p in parts]) for i in range(6))
    keep = (t > c.first_applied_at[cu]) & (t < END - 3600) & _active(t, cu, uninst, reinst)
    cu, t, kind, k, dpd, amt = cu[keep], t[keep], kind[keep], k[keep], dpd[keep], amt[keep]
    sms = device._sms_rows(rng, cu, kind, t, c, z_obs, ev["platform_set"], ev["n_plat"])
    sms["k"] = k
    sms["days"] = np.where(dpd >= 0, dpd, sms["days"])
    sms["amount"] = np.where(amt >= 0, amt, sms["amount"])
    sms["uploaded_at"] = t + rng.integers(2, 120, len(cu))
    if stress is not None:  # kept apart: rendered with their own stream (`world.py`)
        sms["stress"] = _stress_sms(*stress, c, L, uninst, reinst, ev)
    return gps, sms


def _stress_sms(rng: np.random.Generator, S: Stress, c: Customers, L: Loans,
                uninst: np.ndarray, reinst: np.ndarray, ev: dict) -> dict:
    """Other lenders chasing a borrower under stress (see `continuing_uploads`)."""
    sl = np.flatnonzero(S.onset >= 0)
    span = (S.end[sl] - S.onset[sl]) * DAY
    own = expand(rng.poisson(2.0 * span / (30 * DAY)))
    frac = rng.random(len(own)) ** 0.6  # more of them as the trouble deepens
    t = S.onset[sl][own] * DAY + (frac * span[own]).astype(np.int64) + 10 * HOUR
    cu = L.cust[sl][own]
    kind = rng.choice([device.LOAN_OVERDUE, device.COLLECT_PLATFORM], len(own), p=[0.7, 0.3])
    keep = (t > c.first_applied_at[cu]) & (t < END - 3600) & _active(t, cu, uninst, reinst)
    cu, t, kind = cu[keep], t[keep], kind[keep]
    sms = device._sms_rows(rng, cu, kind, t, c, ev["z_obs"], ev["platform_set"], ev["n_plat"])
    sms["uploaded_at"] = t + rng.integers(2, 120, len(cu))
    return sms


#: New loans a month at online lending platforms while a stress deepens: borrowing from one
#: lender to pay another (以贷养贷), as the platforms approve almost anyone.
STACKING_PER_MONTH = 0.5
#: Ordinary new credit elsewhere (bank cards and consumer loans) a year for a borrower outside
#: a stress, at observed risk 0; scaled by exp(-0.5 × observed risk): banks approve those who pay.
NEW_CREDIT_PER_YEAR = 0.3


def new_credit(
    rng: np.random.Generator, L: Loans, S: Stress, z_obs: np.ndarray
) -> tuple[bureau.Accounts, bureau.Inquiries]:
    """Tradelines other lenders open for our borrowers after booking, each with the hard
    inquiry that preceded it (1–10 days before).

    Outside any stress window, and before a default: bank cards and consumer loans now and
    then (`NEW_CREDIT_PER_YEAR`), more for the creditworthy. In a stress that deepens: small
    platform loans (`STACKING_PER_MONTH`, more as it deepens; they go delinquent with the
    borrower's other accounts, `world.py`). In a hardship that passes: none — banks refuse a
    borrower paying late, and one who will recover cuts back rather than borrow. So a new loan
    elsewhere says little about a borrower paying on time and much about one paying late."""
    end = END
    disb = L.disbursed_at
    # ordinary new credit
    yrs = np.maximum(end - disb, 0) / (365 * DAY)
    own = expand(rng.poisson(NEW_CREDIT_PER_YEAR * np.exp(-0.5 * z_obs[L.cust]) * yrs))
    t = disb[own] + (rng.random(len(own)) * (end - disb[own])).astype(np.int64)
    day = t // DAY
    calm = ~S.covers(own, day) & ~(L.bad[own] & (day >= L.default_day[own]))
    own, t = own[calm], t[calm]
    card = rng.random(len(own)) < 0.5
    inst_o = rng.integers(0, bureau.N_BANKS, len(own))
    amount_o = np.where(card, rng.choice([10_000, 20_000, 30_000, 50_000], len(own)),
                        np.exp(rng.normal(np.log(30_000), 0.7, len(own))))
    term_o = np.where(card, 0, rng.choice([12, 24, 36], len(own)))
    # stacking in a deepening stress
    deepens = L.bad if S.deepens is None else S.deepens
    sl = np.flatnonzero(deepens & (S.onset >= 0))
    span = (S.end[sl] - S.onset[sl]) * DAY
    k = expand(rng.poisson(STACKING_PER_MONTH * span / (30 * DAY)))
    stack = sl[k]
    ts = S.onset[stack] * DAY + ((rng.random(len(k)) ** 0.7) * span[k]).astype(np.int64)
    inst_s = bureau.N_BANKS + rng.integers(0, len(bureau.INSTITUTIONS) - bureau.N_BANKS - 1,
                                           len(k))
    amount_s = np.exp(rng.normal(np.log(8_000), 0.6, len(k)))
    term_s = rng.choice([6, 12], len(k))

    loan = np.concatenate([own, stack])
    open_sec = np.concatenate([t, ts]) + rng.integers(9, 20, len(loan)) * HOUR
    is_card = np.concatenate([card, np.zeros(len(k), bool)])
    term = np.concatenate([term_o, term_s])
    amount = np.round(np.concatenate([amount_o, amount_s]), -3).clip(1_000, None)
    amount = amount.astype(np.int64)
    rate = 0.12 / 12
    payment = np.where(is_card, 0, amount * rate / (1 - (1 + rate) ** -np.maximum(term, 1)))
    open_m = month_index(open_sec)
    m = len(loan)
    cust = L.cust[loan]
    z = z_obs[cust]
    # a bad borrower's accounts go delinquent from the trouble's start, as the older ones do
    # (`world.py`): the stress onset, else two months before the default
    trouble = np.where(S.onset[loan] >= 0, month_index(S.onset[loan] * DAY),
                       month_index(np.maximum(L.default_day[loan], 0) * DAY) - 2)
    cols = np.arange(bureau.W)[None, :] + bureau.T0
    mult = np.where(L.bad[loan][:, None] & (cols >= trouble[:, None]), 6.0, 1.0)
    acc = bureau.Accounts(
        cust=cust,
        kind=np.where(is_card, bureau.CARD, bureau.LOAN).astype(np.int8),
        ltype=np.where(is_card, -1, 2),
        inst=np.concatenate([inst_o, inst_s]),
        open_sec=open_sec,
        open_m=open_m,
        close_m=np.where(is_card, 10**6, open_m + term),
        amount=amount,
        payment=payment.round().astype(np.int64),
        util=rng.beta(2.0, 3.0, m),
        level=bureau.simulate_levels(rng, bureau._sigmoid(-5.6 + 1.2 * z),
                                     np.clip(open_m - bureau.T0, 0, bureau.W),
                                     np.zeros(m, np.int8), bureau._sigmoid(z), mult),
        noise=rng.normal(0, 0.07, (m, bureau.W)).astype(np.float32),
    )
    inq = bureau.Inquiries(
        cust, open_sec - rng.integers(1, 11, m) * DAY, np.where(is_card, 1, 0), acc.inst
    )
    return acc, inq


def refresh_reports(rng: np.random.Generator, L: Loans) -> tuple[np.ndarray, np.ndarray]:
    """(loan, report time) of the monthly bureau refresh of every loan: at 02:00 on each monthly
    anniversary, until maturity, charge-off or the cut-off."""
    loan = expand(L.term)
    k = rank_within(loan) + 1
    day = add_months_days(L.disbursed_at[loan] // DAY, k)
    t = day * DAY + 2 * HOUR + rng.integers(0, HOUR, len(loan))
    stop = np.where(L.chargeoff_day[loan] >= 0, L.chargeoff_day[loan] * DAY, END)
    keep = t < np.minimum(stop, END)
    return loan[keep], t[keep]


def _episodes(
    owner: np.ndarray,
    start_off: np.ndarray,
    length: np.ndarray,
    ndays: np.ndarray,
    base: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Day-grid rows covered by episodes (gaps, trips): (episode number, grid position) per
    covered day, clipped to each loan's observation window."""
    start_off = np.clip(start_off, 0, ndays[owner])
    length = np.clip(length, 0, ndays[owner] - start_off)
    e = expand(length)
    return e, base[owner[e]] + start_off[e] + rank_within(e)


def vehicle_gps_chunks(
    rng: np.random.Generator, c: Customers, L: Loans, chunk: int = 8_000,
    stress: tuple[np.random.Generator, Stress] | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Daily tracker positions of each financed car, in chunks of loans (bounded memory).

    The tracker reports on ~35% of days (days the car is used); offline gaps (garages, battery)
    happen to everyone, while before a default the tracker is often removed for good or the car
    is taken to another province. Under stress (``stress``: its own generator and the windows)
    the car travels more — trips of 3–10 days out of the home province, about 1.5 a month — and the
    tracker drops out more often (a gap a month)."""
    end_day = END // DAY
    prov = geo.CITY_PROVINCE_IDX
    for s in range(0, max(len(L.app), 1), chunk):  # one (maybe empty) chunk at least
        idx = np.arange(s, min(s + chunk, len(L.app)))
        m = len(idx)
        first = L.disbursed_at[idx] // DAY + 1
        maturity = add_months_days(L.disbursed_at[idx] // DAY, L.term[idx]) + 1
        last = np.minimum(end_day, maturity)
        co = L.chargeoff_day[idx]
        last = np.where(co >= 0, np.minimum(last, co + 60), last)
        ndays = np.maximum(last - first, 0)
        row_loan = expand(ndays)
        off = rank_within(row_loan)
        base = np.concatenate([[0], np.cumsum(ndays)])[:-1]
        day = first[row_loan] + off
        ping = rng.random(len(day)) < PING_RATE
        offline = np.zeros(len(day), bool)
        city = c.actual_city[L.cust[idx]][row_loan].copy()
        years = ndays / 365

        mark = functools.partial(_episodes, ndays=ndays, base=base)

        own = expand(rng.poisson(0.8 * years))  # ordinary gaps
        _, pos = mark(
            own, (rng.random(len(own)) * ndays[own]).astype(np.int64), rng.integers(2, 15, len(own))
        )
        offline[pos] = True
        own = expand(rng.poisson(1.5 * years))  # trips
        trip_city = rng.choice(geo.N_CITIES, len(own), p=geo.CITY_WEIGHT)
        e, pos = mark(
            own, (rng.random(len(own)) * ndays[own]).astype(np.int64), rng.integers(1, 6, len(own))
        )
        city[pos] = trip_city[e]
        bad = L.bad[idx]
        ring = c.ring[L.cust[idx]] >= 0
        d_off = L.default_day[idx] - first
        tamper = bad & (rng.random(m) < np.where(ring, 0.85, 0.55))
        moved = bad & ~tamper & (rng.random(m) < 0.45)
        own = np.flatnonzero(tamper)
        _, pos = mark(own, d_off[own] - rng.integers(0, 41, len(own)), ndays[own])
        offline[pos] = True
        own = np.flatnonzero(moved)
        home = c.actual_city[L.cust[idx]][own]
        dest = (home + rng.integers(1, geo.N_CITIES, len(own))) % geo.N_CITIES
        for _ in range(3):  # re-draw destinations that stayed in the home province
            same = prov[dest] == prov[home]
            dest[same] = (dest[same] + 11) % geo.N_CITIES
        e, pos = mark(own, d_off[own] - rng.integers(0, 61, len(own)), ndays[own])
        city[pos] = dest[e]
        if stress is not None:
            _stress_trips(*stress, idx, first, ndays, mark, city, offline, c, L)
        keep = ping & ~offline
        r = row_loan[keep]
        cty = city[keep]
        at_home = cty == c.actual_city[L.cust[idx]][r]
        lat = np.where(at_home, c.actual_lat[L.cust[idx]][r], geo.CITY_LAT[cty])
        lon = np.where(at_home, c.actual_lon[L.cust[idx]][r], geo.CITY_LON[cty])
        lat, lon = geo.jitter(rng, lat, lon, np.where(at_home, 5.0, 8.0))
        t = day[keep] * DAY + rng.integers(7 * HOUR, 22 * HOUR, len(r))
        lag = np.where(
            rng.random(len(r)) < 0.03,
            rng.integers(HOUR, 12 * HOUR, len(r)),
            rng.integers(5, 120, len(r)),
        )
        up = t + lag
        ok = up < END
        yield {
            "loan": idx[r][ok],
            "event_time": t[ok],
            "uploaded_at": up[ok],
            "lat": lat[ok],
            "lon": lon[ok],
            "city": cty[ok],
        }


def _stress_trips(rng, S: Stress, idx, first, ndays, mark, city, offline, c, L) -> None:
    """Trips out of the province and tracker gaps inside each loan's stress window when it
    deepens; in a hardship that passes the borrower keeps the car at home and in sight."""
    prov = geo.CITY_PROVINCE_IDX
    deepens = L.bad if S.deepens is None else S.deepens
    sl = np.flatnonzero((S.onset[idx] >= 0) & deepens[idx])
    start = S.onset[idx][sl] - first[sl]
    span = np.maximum(S.end[idx][sl] - S.onset[idx][sl], 0)
    k = expand(rng.poisson(1.5 * span / 30))
    own = sl[k]
    off = start[k] + (rng.random(len(k)) * span[k]).astype(np.int64)
    home = c.actual_city[L.cust[idx]][own]
    dest = (home + rng.integers(1, geo.N_CITIES, len(own))) % geo.N_CITIES
    for _ in range(3):
        same = prov[dest] == prov[home]
        dest[same] = (dest[same] + 11) % geo.N_CITIES
    e, pos = mark(own, off, rng.integers(3, 11, len(own)))
    city[pos] = dest[e]
    k = expand(rng.poisson(1.0 * span / 30))
    off = start[k] + (rng.random(len(k)) * span[k]).astype(np.int64)
    _, pos = mark(sl[k], off, rng.integers(3, 12, len(k)))
    offline[pos] = True


__all__ = ["app_lifecycle", "continuing_uploads", "refresh_reports", "vehicle_gps_chunks"]
