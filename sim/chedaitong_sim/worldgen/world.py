"""Assemble the whole world: people, dealers, applications, outcomes and every raw table.

The order follows causality: customers and their pre-application signals exist first; the
features at the first application drive true_pd; the historical policy books some applications;
realised outcomes then shape repayments and the post-loan signals. Each step draws from its own
named random stream so that the result depends only on (customers, seed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from chedaitong_sim.worldgen import applications as appl
from chedaitong_sim.worldgen import bureau, device, geo, identity, postloan, risk, text, vocab
from chedaitong_sim.worldgen.customers import Customers, make_customers
from chedaitong_sim.worldgen.dealers import CHANNELS, NEW_CHANNEL, Dealers, make_dealers
from chedaitong_sim.worldgen.events import sort_events
from chedaitong_sim.worldgen.outcomes import (
    METHODS,
    STATUSES,
    Loans,
    apply_stress,
    make_loans,
    make_repayments,
    monthly_levels,
    stress_windows,
)
from chedaitong_sim.worldgen.rng import stream
from chedaitong_sim.worldgen.timeutil import (
    DAY,
    MINUTE,
    WORLD_END,
    date_array,
    month_index,
    sec,
    ts_array,
)
from chedaitong_sim.worldgen.writer import money

END = sec(WORLD_END)
TableSource = pa.Table | Iterator[pa.Table]


@dataclass
class World:
    """Tables in writing order; big ones are lazy streams of tables (bounded memory)."""

    tables: dict[str, TableSource] = field(default_factory=dict)
    applications: pa.Table | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    #: generative-model inputs per application, rows in `applications` table order (for tests
    #: and diagnostics; not written)
    features: dict[str, np.ndarray] = field(default_factory=dict)
    #: what the generator knows about each loan, rows in `loans` table order (day numbers,
    #: -1 when none: default day, stress window; bad and cured flags) — for the behaviour
    #: score's signal diagnostics (`bench/behaviour_signal.py`); not written
    loan_truth: dict[str, np.ndarray] = field(default_factory=dict)


def _features_for_apps(
    a: appl.Apps,
    c: Customers,
    d: Dealers,
    dev_f: dict,
    ident: dict,
    tp: bureau.ThirdParty,
    bur_f: dict,
) -> dict[str, np.ndarray]:
    cu = a.cust
    f = {k: v[cu].astype(float) for k, v in dev_f.items()}
    f.update({k: np.asarray(v) for k, v in bur_f.items()})
    f["id_fail"] = ident["id_fail"][cu]
    f["bank_mismatch"] = ident["bank_mismatch"][cu]
    f["liveness_score"] = ident["liveness_score"][cu]
    f["liveness_fails"] = ident["liveness_fails"][cu]
    f["liveness_pass"] = ident["liveness_pass"][cu]
    f["tp_score"] = tp.score[cu]
    f["tp_blacklist"] = tp.blacklist[cu] | tp.court[cu]
    f["tp_platforms_90d"] = tp.ml90[cu]
    f["ltv"] = a.loan_cents / a.price_cents
    f["installment_to_income"] = a.installment_cents / c.income_cents[cu]
    f["monthly_income"] = c.income_cents[cu] / 100
    f["age"] = ((a.applied_at // DAY - c.birth_day[cu]) // 365.25).astype(float)
    f["term_months"] = a.term
    f["channel_new"] = d.channel[a.dealer] == NEW_CHANNEL
    f["employment"] = c.employment[cu]
    f["marital"] = c.marital[cu]
    f["education"] = c.education[cu]
    return f


def build(n_customers: int, seed: int) -> World:
    """Generate the world for `n_customers` customers and `seed`."""
    d = make_dealers(seed, n_customers)
    c = make_customers(seed, n_customers, d)
    n = c.n
    ring = c.ring >= 0

    ev = device.pre_application(stream(seed, "device"), c, d)
    z_obs = ev["z_obs"]
    dev_f = device.observed_features(ev, c, c.first_applied_at)

    rng_b = stream(seed, "bureau")
    acc = bureau.make_accounts(rng_b, c, z_obs, c.fraud)
    inq = bureau.make_inquiries(
        rng_b,
        np.arange(n),
        c.first_applied_at,
        np.full(n, -730 * DAY),
        np.exp(0.9 + 0.5 * z_obs + 0.4 * c.fraud),
    )
    burst = bureau.make_inquiries(
        rng_b,
        np.arange(n),
        c.first_applied_at,
        np.full(n, -60 * DAY),
        np.exp(-1.0 + 0.9 * z_obs + 0.5 * c.fraud),
    )
    inq = inq.append(burst).sorted()
    tp = bureau.third_party(stream(seed, "thirdparty"), z_obs, c.fraud)

    # The identity outcomes are drawn first from this stream; the table is rebuilt later from
    # the same stream with the signing checks added, giving the same outcomes.
    rng_id = stream(seed, "identity")
    _, ident = identity.checks(
        rng_id, c.registered_at, c.fraud, ring, *([np.zeros(0, np.int64)] * 3), np.zeros(0)
    )

    # ---- first applications
    rng_a = stream(seed, "applications")
    first = appl.first_applications(rng_a, c, d, tp.score)
    report_t = first.applied_at + rng_a.integers(60, 300, n)
    bur_first = bureau.report_features(acc, inq, first.cust, report_t)
    f1 = _features_for_apps(first, c, d, dev_f, ident, tp, bur_first)
    ring_u = stream(seed, "ring_pd").random(n)
    pd1 = risk.true_pd(f1, c.eps, c.fraud, ring, ring_u)
    approved1 = appl.policy(rng_a, f1)
    take1 = rng_a.random(n) < 0.9
    booked1_guess = approved1 & take1  # signing and disbursement can still fail below

    # our own inquiry, and other lenders' after a refusal
    ours = bureau.Inquiries(
        first.cust, report_t, np.zeros(n, np.int64), np.full(n, bureau.OUR_INST)
    )
    nb = np.flatnonzero(~booked1_guess)
    shop = bureau.make_inquiries(
        rng_b, nb, first.applied_at[nb], np.full(len(nb), 120 * DAY), np.exp(0.2 + 0.5 * z_obs[nb])
    )
    inq = inq.append(ours).append(shop).sorted()

    # ---- re-applications
    re = appl.reapplications(rng_a, first, ~booked1_guess, ring, tp.score, c.new_channel)
    re_report_t = re.applied_at + rng_a.integers(60, 300, len(re))
    bur_re = bureau.report_features(acc, inq, re.cust, re_report_t)
    # device & identity terms stay those of the first application (see risk.py)
    f2 = _features_for_apps(re, c, d, dev_f, ident, tp, bur_re)
    pd2 = risk.true_pd(f2, c.eps[re.cust], c.fraud[re.cust], ring[re.cust], ring_u[re.cust])
    approved2 = appl.policy(rng_a, f2)
    take2 = rng_a.random(len(re)) < 0.9
    inq = inq.append(
        bureau.Inquiries(
            re.cust, re_report_t, np.zeros(len(re), np.int64), np.full(len(re), bureau.OUR_INST)
        )
    ).sorted()

    apps = first.append(re)
    m = len(apps)
    pd = np.concatenate([pd1, pd2])
    approved = np.concatenate([approved1, approved2])
    took = np.concatenate([take1, take2])
    report_times = np.concatenate([report_t, re_report_t])
    bad = (c.u_outcome[apps.cust] < pd).astype(np.int8)

    # ---- signing liveness, booking, loans
    rng_l = stream(seed, "loans")
    cand = np.flatnonzero(approved & took)
    # at most one loan per customer: the first approved application wins
    _, first_pos = np.unique(apps.cust[cand], return_index=True)
    cand = cand[np.sort(first_pos)]
    signing_at = apps.applied_at[cand] + rng_l.integers(10 * MINUTE, 40 * MINUTE, len(cand))
    cf = c.fraud[apps.cust[cand]] & ~ring[apps.cust[cand]]
    sign_score = np.round(rng_l.beta(np.where(cf, 3.5, 16.0), np.where(cf, 2.5, 1.6)), 4)
    ok = (sign_score >= 0.7) & (signing_at < END - DAY)
    booked_idx = cand[ok]
    L = make_loans(
        rng_l,
        apps,
        booked_idx,
        bad[booked_idx].astype(bool),
        ring[apps.cust[booked_idx]],
        c.fraud[apps.cust[booked_idx]],
        signing_at[ok],
    )
    keep = L.disbursed_at < END
    if not keep.all():
        L = Loans(*[getattr(L, k)[keep] for k in L.__dataclass_fields__])
    # loans ordered by disbursement time
    order = np.argsort(L.disbursed_at, kind="stable")
    L = Loans(*[getattr(L, k)[order] for k in L.__dataclass_fields__])
    booked = np.zeros(m, bool)
    booked[L.app] = True
    R = make_repayments(rng_l, L, pd[L.app])
    # early warning: stress before a default (or a hardship that passes), own stream so the
    # draws above and every application-side stream stay as they were
    rng_s = stream(seed, "stress")
    S = stress_windows(rng_s, L, R)
    R = apply_stress(rng_s, L, R, S)
    loan_of_cust = np.full(n, -1)
    loan_of_cust[L.cust] = np.arange(len(L.app))

    # ---- post-loan bureau trail: worse behaviour elsewhere before a default, new inquiries,
    # and our own tradeline
    rng_p = stream(seed, "postbureau")
    bl = np.flatnonzero(L.bad)
    # other lenders see the trouble when it starts: the stress onset, else two months ahead
    trouble = np.where(S.onset[bl] >= 0, month_index(S.onset[bl] * DAY),
                       month_index(L.default_day[bl] * DAY) - 2)
    start_m = np.maximum(trouble, month_index(L.disbursed_at[bl]) + 1) - bureau.T0
    by_cust = np.full(n, -1)
    by_cust[L.cust[bl]] = start_m
    aff = np.flatnonzero((by_cust[acc.cust] >= 0) & (by_cust[acc.cust] < bureau.W))
    if len(aff):
        sc = by_cust[acc.cust[aff]]
        prev_level = acc.level[aff, np.maximum(sc - 1, 0)]
        mult = np.where(np.arange(bureau.W)[None, :] >= sc[:, None], 6.0, 1.0)
        hz = bureau._sigmoid(-5.6 + 1.2 * z_obs[acc.cust[aff]])
        new = bureau.simulate_levels(
            rng_p, hz, sc, prev_level, bureau._sigmoid(z_obs[acc.cust[aff]]), mult
        )
        cols = np.arange(bureau.W)[None, :] >= sc[:, None]
        acc.level[aff] = np.where(cols, new, acc.level[aff])
    # new credit elsewhere after booking, own stream (every draw above and below as before)
    new_acc, new_inq = postloan.new_credit(stream(seed, "new_credit"), L, S, z_obs)
    acc = acc.append(new_acc).sorted()
    inq = inq.append(new_inq)
    gl = np.flatnonzero(~L.bad)
    yrs = (END - L.disbursed_at[gl]) / (365 * DAY)
    inq = inq.append(
        bureau.make_inquiries(
            rng_p, L.cust[gl], L.disbursed_at[gl], END - L.disbursed_at[gl], 0.25 * yrs
        )
    )
    inq = inq.append(
        bureau.make_inquiries(
            rng_p,
            L.cust[bl],
            L.disbursed_at[bl],
            np.maximum(L.default_day[bl] * DAY - L.disbursed_at[bl], DAY),
            2.5 + np.maximum(z_obs[L.cust[bl]], 0),
            recent_power=0.6,
        )
    )
    # a hardship shows at the bureau too: shopping for credit while it lasts
    hl = np.flatnonzero(~L.bad & (S.onset >= 0))
    inq = inq.append(
        bureau.make_inquiries(
            stream(seed, "stress_bureau"), L.cust[hl], S.onset[hl] * DAY,
            (S.end[hl] - S.onset[hl]) * DAY, np.full(len(hl), 1.5),
        )
    ).sorted()
    levels = monthly_levels(L, R, bureau.T0, bureau.W)
    k = len(L.app)
    our = bureau.Accounts(
        cust=L.cust,
        kind=np.full(k, bureau.LOAN, np.int8),
        ltype=np.full(k, 4),
        inst=np.full(k, bureau.OUR_INST),
        open_sec=L.disbursed_at,
        open_m=month_index(L.disbursed_at),
        close_m=month_index(L.disbursed_at) + L.term,
        amount=L.principal_cents // 100,
        payment=apps.installment_cents[L.app] // 100,
        util=np.zeros(k),
        level=levels,
        noise=np.zeros((k, bureau.W), np.float32),
    )
    acc = acc.append(our).sorted()

    # ---- app lifecycle and continuing uploads
    rng_u = stream(seed, "uploads")
    last_applied = np.zeros(n, np.int64)
    np.maximum.at(last_applied, apps.cust, apps.applied_at)
    app_rows, uninst, reinst = postloan.app_lifecycle(rng_u, c, last_applied, loan_of_cust, L,
                                                      S)
    gps_post, sms_post = postloan.continuing_uploads(
        rng_u, c, d, L, R, loan_of_cust, uninst, reinst, ev, apps.installment_cents,
        stress=(stream(seed, "stress_sms"), S),
    )

    # ---- ids in time order
    app_order = np.lexsort((apps.cust, apps.applied_at))
    app_rank = np.empty(m, np.int64)
    app_rank[app_order] = np.arange(m)
    app_ids_sorted = text.ids("AP", np.arange(1, m + 1), 9)
    app_id_of = app_ids_sorted.take(pa.array(app_rank))  # by generation index
    loan_ids = text.ids("LN", np.arange(1, k + 1), 8)

    w = World()
    w.sizes = {
        "customers": n,
        "dealers": len(d.channel),
        "consultants": len(d.consultant_dealer),
        "applications": m,
        "loans": k,
    }
    w.tables["dealers"] = d.table
    w.tables["consultants"] = d.consultants
    w.tables["customers"] = _customers_table(c)
    w.tables["identity_checks"] = _identity_table(
        stream(seed, "identity"), c, ring, apps, cand, signing_at, sign_score, app_id_of
    )

    gps_all = sort_events(postloan_concat(ev["gps"], gps_post))
    w.tables["device_gps"] = device.gps_table(gps_all, c.ids)
    stress_sms = sms_post.pop("stress", None)
    sms_all = sort_events(postloan_concat(ev["sms"], sms_post))
    sms_table = device.sms_table(stream(seed, "sms_text"), sms_all, c.ids)
    if stress_sms is not None and len(stress_sms["cust"]):
        # other lenders' notices under stress: their own text stream, merged in time order,
        # so every other message (and what applications saw) reads as before
        extra = device.sms_table(stream(seed, "stress_sms_text"), sort_events(stress_sms), c.ids)
        sms_table = pa.concat_tables([sms_table, extra]).sort_by(
            [("customer_id", "ascending"), ("event_time", "ascending"),
             ("uploaded_at", "ascending")])
        sms_table = sms_table.set_column(
            0, "event_id", pa.array(np.arange(1, len(sms_table) + 1, dtype=np.int64)))
    w.tables["device_sms"] = sms_table
    w.tables["device_photos"] = device.photos_table(sort_events(ev["photos"]), c.ids)
    w.tables["device_contacts"] = device.contacts_table(sort_events(ev["contacts"]), c.ids)

    # ---- bureau reports
    rl, rt = postloan.refresh_reports(stream(seed, "refresh"), L)
    r_cust = np.concatenate([apps.cust, L.cust[rl]])
    r_t = np.concatenate([report_times, rt])
    r_reason = np.r_[np.zeros(m, np.int64), np.ones(len(rl), np.int64)]
    r_app = np.r_[np.arange(m), np.full(len(rl), -1)]
    r_loan = np.r_[np.full(m, -1), rl]
    r_order = np.lexsort((r_reason, r_t, r_cust))
    r_cust, r_t, r_reason, r_app, r_loan = (
        x[r_order] for x in (r_cust, r_t, r_reason, r_app, r_loan)
    )
    report_ids = text.ids("PB", np.arange(1, len(r_cust) + 1), 10)
    w.tables["bureau_pboc"] = _pboc_stream(
        acc, inq, c, r_cust, r_t, r_reason, r_app, r_loan, report_ids, app_id_of, loan_ids
    )
    w.tables["bureau_thirdparty"] = _thirdparty_table(
        stream(seed, "thirdparty_t"), tp, apps, app_order, app_id_of, c
    )

    # ---- applications, loans, repayments
    fraud_ring = ring[apps.cust]
    w.applications = _applications_table(
        apps, app_order, app_id_of, c, d, approved, booked, pd, bad, fraud_ring
    )
    w.tables["applications"] = w.applications
    w.features = {k: np.concatenate([np.asarray(f1[k]), np.asarray(f2[k])])[app_order] for k in f1}
    w.tables["loans"] = _loans_table(L, apps, loan_ids, app_id_of, c)
    w.loan_truth = {"bad": L.bad.copy(), "cured": L.cured.copy(),
                    "default_day": L.default_day.copy(), "stress_onset": S.onset.copy(),
                    "stress_end": S.end.copy(),
                    "stress_deepens": (L.bad if S.deepens is None else S.deepens).copy()}
    w.tables["repayments"] = _repayments_table(R, loan_ids)
    w.tables["vehicle_gps"] = _vehicle_stream(stream(seed, "vehicle"), c, L, loan_ids,
                                              (stream(seed, "stress_gps"), S))
    w.tables["app_events"] = _app_events_table(app_rows, c)
    return w


def postloan_concat(a: dict, b: dict) -> dict:
    keys = [k for k in a if k in b]
    return {k: np.concatenate([a[k], b[k]]) for k in keys}


# ------------------------------------------------------------------ table builders
def _customers_table(c: Customers) -> pa.Table:
    return pa.table(
        {
            "customer_id": c.ids,
            "name": c.name,
            "id_number": c.id_number,
            "birth_date": date_array(c.birth_day),
            "gender": text.pick(["F", "M"], c.male.astype(int)),
            "id_region_code": pa.array(c.region_code.astype(str)),
            "mobile": text.ints(c.mobile),
            "home_city": text.pick(geo.CITY_NAME, c.home_city),
            "home_province": text.pick(geo.CITY_PROVINCE, c.home_city),
            "home_lat": pa.array(c.home_lat),
            "home_lon": pa.array(c.home_lon),
            "work_city": text.pick(geo.CITY_NAME, c.work_city),
            "work_province": text.pick(geo.CITY_PROVINCE, c.work_city),
            "work_lat": pa.array(c.work_lat),
            "work_lon": pa.array(c.work_lon),
            "monthly_income": money(c.income_cents),
            "employment": text.pick(vocab.EMPLOYMENT, c.employment),
            "marital_status": text.pick(vocab.MARITAL, c.marital),
            "education": text.pick(vocab.EDUCATION, c.education),
            "registered_at": ts_array(c.registered_at),
            "device_id": c.device_id,
        }
    )


def _identity_table(
    rng, c: Customers, ring, apps: appl.Apps, cand, signing_at, sign_score, app_id_of: pa.Array
) -> pa.Table:
    rows, _ = identity.checks(
        rng, c.registered_at, c.fraud, ring, cand, apps.cust[cand], signing_at, sign_score
    )
    return identity.checks_table(rows, c.ids, app_id_of)


def _pboc_stream(
    acc, inq, c, r_cust, r_t, r_reason, r_app, r_loan, report_ids, app_id_of, loan_ids
) -> Iterator[pa.Table]:
    chunk = 50_000
    docs = bureau.pboc_json_batches(acc, inq, c, r_cust, r_t, r_reason, report_ids, chunk)
    for s, doc in zip(range(0, len(r_cust), chunk), docs, strict=True):
        e = min(s + chunk, len(r_cust))
        ap, ln = r_app[s:e], r_loan[s:e]
        yield pa.table(
            {
                "report_id": report_ids[s:e],
                "customer_id": c.ids.take(pa.array(r_cust[s:e])),
                "application_id": app_id_of.take(pa.array(ap, mask=ap < 0)),
                "loan_id": loan_ids.take(pa.array(ln, mask=ln < 0)),
                "reported_at": ts_array(r_t[s:e]),
                "query_reason": text.pick(["loan_approval", "post_loan_management"], r_reason[s:e]),
                "report_json": doc,
            }
        )


def _thirdparty_table(rng, tp, apps: appl.Apps, app_order, app_id_of, c) -> pa.Table:
    idx = app_order
    t = apps.applied_at[idx] + rng.integers(30, 200, len(idx))
    ids = text.ids("TP", np.arange(1, len(idx) + 1), 9)
    return pa.table(
        {
            "report_id": ids,
            "customer_id": c.ids.take(pa.array(apps.cust[idx])),
            "application_id": app_id_of.take(pa.array(idx)),
            "reported_at": ts_array(t),
            "vendor": pa.array(np.full(len(idx), "第三方数据服务商D")),
            "report_json": bureau.third_party_json(tp, apps.cust[idx], ids),
        }
    )


def _applications_table(
    a: appl.Apps, order, app_id_of, c, d, approved, booked, pd, bad, fraud_ring
) -> pa.Table:
    idx = pa.array(order)
    prev = a.prev[order]
    o = order
    return pa.table(
        {
            "application_id": app_id_of.take(idx),
            "customer_id": c.ids.take(pa.array(a.cust[o])),
            "dealer_id": d.ids.take(pa.array(a.dealer[o])),
            "consultant_id": d.consultant_ids.take(pa.array(a.consultant[o])),
            "applied_at": ts_array(a.applied_at[o]),
            "vehicle_brand": text.pick(vocab.BRANDS, vocab.MODEL_BRAND[a.model[o]]),
            "vehicle_model": text.pick(vocab.MODEL_NAME, a.model[o]),
            "vehicle_price": money(a.price_cents[o]),
            "lease_type": text.pick(appl.LEASE_TYPES, a.lease_type[o]),
            "deposit_or_down_payment": money(a.dp_cents[o]),
            "loan_amount": money(a.loan_cents[o]),
            "term_months": pa.array(a.term[o].astype(np.int32)),
            "annual_rate": pa.array(a.rate[o]),
            "monthly_installment": money(a.installment_cents[o]),
            "previous_application_id": app_id_of.take(pa.array(prev, mask=prev < 0)),
            "channel": text.pick(CHANNELS, d.channel[a.dealer[o]]),
            "decision": text.pick(["rejected", "approved"], approved[o].astype(int)),
            "booked": pa.array(booked[o]),
            "true_pd": pa.array(np.round(pd[o], 6)),
            "bad_12m": pa.array(bad[o].astype(np.int8)),
            "fraud_ring": pa.array(fraud_ring[o]),
        }
    )


def _loans_table(L: Loans, apps: appl.Apps, loan_ids, app_id_of, c) -> pa.Table:
    co = L.chargeoff_day
    return pa.table(
        {
            "loan_id": loan_ids,
            "application_id": app_id_of.take(pa.array(L.app)),
            "customer_id": c.ids.take(pa.array(L.cust)),
            "disbursed_at": ts_array(L.disbursed_at),
            "principal": money(L.principal_cents),
            "annual_rate": pa.array(L.rate),
            "term_months": pa.array(L.term.astype(np.int32)),
            "repayment_method": text.pick(METHODS, L.method),
            "charged_off_at": ts_array(co * DAY, mask=co < 0),
        }
    )


def _repayments_table(R, loan_ids) -> pa.Table:
    order = np.lexsort((R.k, R.loan))
    paid = R.paid_at[order]
    none = np.full(len(order), -1, np.int64)
    part_at = none if R.partial_at is None else R.partial_at[order]
    part_amt = none * 0 if R.partial_amount is None else R.partial_amount[order]
    return pa.table(
        {
            "loan_id": loan_ids.take(pa.array(R.loan[order])),
            "installment_no": pa.array(R.k[order].astype(np.int32)),
            "due_date": date_array(R.due_day[order]),
            "paid_at": ts_array(paid, mask=paid < 0),
            "amount_due": money(R.amount_due[order]),
            "amount_paid": money(R.amount_paid[order]),
            "partial_paid_at": ts_array(part_at, mask=part_at < 0),
            "partial_amount": money(part_amt),
            "penalty_interest": money(R.penalty[order]),
            "status": text.pick(STATUSES, R.status[order]),
            "days_late": pa.array(R.days_late[order].astype(np.int32)),
        }
    )


def _vehicle_stream(rng, c, L, loan_ids, stress=None) -> Iterator[pa.Table]:
    next_id = 1
    for chunk in postloan.vehicle_gps_chunks(rng, c, L, stress=stress):
        cols = sort_events(chunk, owner="loan")
        k = len(cols["loan"])
        yield pa.table(
            {
                "event_id": pa.array(np.arange(next_id, next_id + k, dtype=np.int64)),
                "loan_id": loan_ids.take(pa.array(cols["loan"])),
                "event_time": ts_array(cols["event_time"]),
                "uploaded_at": ts_array(cols["uploaded_at"]),
                "lat": pa.array(cols["lat"]),
                "lon": pa.array(cols["lon"]),
                "city": text.pick(geo.CITY_NAME, cols["city"]),
                "province": text.pick(geo.CITY_PROVINCE, cols["city"]),
            }
        )
        next_id += k


def _app_events_table(rows, c) -> pa.Table:
    r = sort_events(rows)
    k = len(r["cust"])
    return pa.table(
        {
            "event_id": pa.array(np.arange(1, k + 1, dtype=np.int64)),
            "customer_id": c.ids.take(pa.array(r["cust"])),
            "event_type": text.pick(postloan.APP_EVENT_TYPES, r["kind"]),
            "event_time": ts_array(r["event_time"]),
            "uploaded_at": ts_array(r["uploaded_at"]),
        }
    )
