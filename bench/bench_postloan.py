"""Nightly post-loan inspection throughput: 1,000,000 active loans, pandas, vendor sends excluded.

What is measured: `decisioning.postloan.inspection.inspect_partition` — the function the job runs
per chunk — over a synthetic portfolio held in memory, in partitions of `--partition` loans:
罚息 accrual (vectorised, int64 cents), DPD and bucket, feature-store post-loan features, champion
behaviour scoring, the post-loan rules (vector executor) and the action list. Not measured: reading
the portfolio from and writing results to the database, and vendor sends. The portfolio holds
the installments already due with their amounts (those are all the job reads for features —
including part-payments and the payment-to-due ratio — penalty and DPD);
~8 % of loans stopped paying at a random installment. With ``--facts`` (the default) each
partition carries the post-loan facts the behaviour features read (`post_loan_facts`: vehicle GPS
fixes on ~35 % of the last 60 days, ~5 % of them out of the province; an SMS upload marker and
~1 other-lender collection notice a month for 15 % of borrowers; the app install at booking and
an uninstall for 5 %; the bureau report at booking and the latest monthly refresh, with 0–3
inquiries since booking): about 30 facts a loan, only in the windows the
features look at (older GPS history would cost the read, not this computation). The partition
is a night's, not a tidy one: ~10 % of its customers hold two or three of its loans, customer
ids do not follow loan ids, and the facts come as the store hands them over (in arrival order,
customer ids as text, so their codes are text-sorted). ``--no-facts``
runs without any (fact features missing, NaN — a tracker that never reported is unknown, not 30
days dark, so no `gps_alert` may fire; the run checks it). Each loan carries the application
score and PD its decision recorded (~1 % unscored: NaN), which the night copies into the DPD
snapshot and the behaviour features, never re-scoring the application model; the behaviour
champion is trained on a synthetic snapshot frame.

    .venv/bin/python bench/bench_postloan.py [--loans 1000000] [--partition 100000] [--no-facts]

Figures are printed with two floors measured in the same run on the same rows (2 threads):
(a) the behaviour champion's bare batch scoring (its encode + margins) and (b) its LightGBM
booster alone (`Booster.predict(raw_score=True)` on the encoded rows); the ≤ 3× goal (#16/#17)
reads against (b). Both sides are warm before the clock starts: the behaviour champion loaded
and the post-loan rules compiled (`inspection.warm`, as a nightly worker does once per
process).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

if __name__ == "__main__":  # imported (bench/postloan_parity.py): the caller picks the tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from chedaitong_sim.synthetic.behaviour_frames import behaviour_frame  # noqa: E402
from decisioning.postloan.inspection import (  # noqa: E402
    Partition,
    Resources,
    inspect_partition,
    postloan_features,
    warm,
)
from featurestore.facts import empty_facts, normalise_facts  # noqa: E402
from models.registry import Registry  # noqa: E402
from models.train import TrainConfig, train_and_register  # noqa: E402

AS_OF = date(2027, 6, 30)
ROOT = Path(__file__).resolve().parents[1]


def customers_of(n: int, first_id: int, rng: np.random.Generator) -> np.ndarray:
    """The customer id of each of ``n`` loans, as a night's partition holds them: ~10 % of
    its customers hold two or three of its loans, and customer ids do not follow loan ids
    (a repeat loan is booked years after the customer's first)."""
    held = rng.choice([1, 2, 3], size=n, p=[0.90, 0.08, 0.02])
    held = held[:np.searchsorted(np.cumsum(held), n) + 1]
    held[-1] -= held.sum() - n  # exactly n loans
    customer = first_id + rng.permutation(len(held))  # unique across partitions
    return rng.permutation(np.repeat(customer, held)).astype(np.int64)


def recorded_scores(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The application (score, PD) each of ``n`` loans' decisions recorded: points around 600
    as the behaviour frame's `application_score`, the PD on the same points scale (50 points
    double the odds, 600 = 1:19); ~1 % of loans booked without a scored decision (NaN)."""
    score = np.round(600 - 40 * rng.normal(0, 1.1, n))
    odds = np.exp2((600 - score) / 50) / 19
    pd_ = np.round(odds / (1 + odds), 6)
    unscored = rng.random(n) < 0.01
    return np.where(unscored, np.nan, score), np.where(unscored, np.nan, pd_)


def portfolio(n: int, first_id: int, rng: np.random.Generator,
              with_facts: bool = True) -> Partition:
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    mob = rng.integers(1, 25, n)  # months on book
    day = rng.integers(1, 29, n)
    as_of = pd.Timestamp(AS_OF)
    months = (as_of.year * 12 + as_of.month - 1) - mob
    disbursed = pd.to_datetime(pd.DataFrame({"year": months // 12, "month": months % 12 + 1,
                                             "day": day}))
    loans = pd.DataFrame({
        "loan_id": ids, "customer_id": customers_of(n, first_id, rng),
        "disbursed_on": disbursed,
        "rate_ppm": rng.choice([60_000, 80_000, 96_000, 120_000], n),
        "penalty_multiplier": "1.5", "penalty_grace_days": 0,
        "penalty_include_interest": True, "penalty_day_basis": 360,
    })
    counts = mob
    rep = np.repeat(np.arange(n), counts)
    k = np.arange(rep.size) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    base_month = (disbursed.dt.year.to_numpy() * 12 + disbursed.dt.month.to_numpy() - 1)[rep] + k
    due = pd.to_datetime(pd.DataFrame({"year": base_month // 12, "month": base_month % 12 + 1,
                                       "day": day[rep]}))
    keep = due.to_numpy() < np.datetime64(AS_OF)
    stop = np.where(rng.random(n) < 0.08, rng.integers(1, 25, n), 10_000)  # stops paying at k
    unpaid = k >= stop[rep]
    principal = rng.integers(150_000, 400_000, rep.size)
    inst = pd.DataFrame({
        "loan_id": ids[rep], "number": k, "due_date": due,
        "unpaid_principal": np.where(unpaid, principal, 0),
        "unpaid_interest": np.where(unpaid, principal // 10, 0),
        "amount_due": principal + principal // 10,
        "penalty_through": due.where(~unpaid),
        "settled_on": due.where(~unpaid),
    })[keep].reset_index(drop=True)
    # nightly history: overdue installments were accrued through yesterday
    yesterday = pd.Timestamp(AS_OF) - pd.Timedelta(days=1)
    late = inst["settled_on"].isna() & (inst["due_date"] < yesterday)
    inst.loc[late, "penalty_through"] = yesterday
    loans["application_score"], loans["application_pd"] = recorded_scores(n, rng)
    return Partition(loans, inst, post_loan_facts(loans, rng) if with_facts else empty_facts())


def post_loan_facts(loans: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Synthetic facts of one partition's borrowers (see the module doc), normalised as the
    store returns them."""
    n = len(loans)
    as_of = pd.Timestamp(AS_OF, tz="UTC").value // 1000  # µs
    day, hour = 86_400_000_000, 3_600_000_000
    booked = (loans["disbursed_on"].dt.tz_localize("UTC").astype("datetime64[us, UTC]")
              .astype("int64").to_numpy())
    parts: list[tuple] = []  # (loan row, source, kind, event µs, value, key)

    def add(row, source, kind, at, value=None, key=None):
        k = len(row)
        parts.append((row, np.full(k, source, object), np.full(k, kind, object), at,
                      np.full(k, np.nan) if value is None else value,
                      np.full(k, None, object) if key is None else key))

    days_back = np.arange(1, 61)
    fix = rng.random((n, 60)) < 0.35  # the car is driven on ~35 % of days
    row, d = np.nonzero(fix)
    at = as_of - days_back[d] * day + rng.integers(7 * hour, 22 * hour, len(row))
    keep = at > booked[row]
    row, at = row[keep], at[keep]
    add(row, "vehicle_gps", "fix", at, (rng.random(len(row)) < 0.05) * 1.0)
    add(np.arange(n), "sms", "upload", as_of - rng.integers(1, 20 * day, n))
    chased = np.flatnonzero(rng.random(n) < 0.15)
    row = np.repeat(chased, rng.integers(1, 4, len(chased)))
    add(row, "sms", "collection", as_of - rng.integers(1, 90 * day, len(row)),
        key=np.char.add("lender-", rng.integers(0, 40, len(row)).astype(str)).astype(object))
    add(np.arange(n), "app", "install", booked - day)
    gone = np.flatnonzero(rng.random(n) < 0.05)
    add(gone, "app", "uninstall", as_of - rng.integers(1, 60 * day, len(gone)))
    for when in (booked - 2 * day, np.maximum(as_of - rng.integers(1, 30 * day, n), booked + day)):
        add(np.arange(n), "pboc", "report", when, np.ones(n))
        add(np.arange(n), "pboc", "open_loans", when, rng.integers(0, 4, n) * 1.0)
        add(np.arange(n), "pboc", "overdue_amount", when, (rng.random(n) < 0.05) * 3000.0)
    row = np.repeat(np.arange(n), rng.integers(0, 4, n))
    add(row, "pboc", "inquiry", booked[row] + rng.integers(day, 60 * day, len(row)),
        key=np.char.add("inq-", np.arange(len(row)).astype(str)).astype(object))
    row, source, kind, at, value, key = (np.concatenate([p[i] for p in parts]) for i in range(6))
    at = np.minimum(at, as_of - hour)
    # as `FeatureStore.facts` hands them over: in the table's order (as they arrived), the
    # customer id as text — so `normalise_facts` makes text-sorted categories ("10" < "9"),
    # whose codes follow neither the loans nor the customer ids
    order = np.argsort(at, kind="stable")
    row, source, kind, at, value, key = (a[order] for a in (row, source, kind, at, value, key))
    time = pd.to_datetime(at, unit="us", utc=True)
    return normalise_facts(pd.DataFrame({
        "customer_id": loans["customer_id"].astype(str).to_numpy()[row], "source": source,
        "kind": kind, "event_time": time, "uploaded_at": time + pd.Timedelta(minutes=5),
        "value": value, "key": key}))


def champions(root: str) -> None:
    """Train and promote the behaviour champion (#16) in a registry at ``root`` (the night
    runs no application model: no application registry at all)."""
    behaviour_reg = Registry(root, "behaviour")
    bversion, _ = train_and_register(behaviour_frame(5000, seed=1), behaviour_reg,
                                     config=TrainConfig(num_threads=2), report=False)
    behaviour_reg.promote(bversion, "champion")


def booster_alone(model: object, x: np.ndarray) -> float:
    """Seconds of the model's LightGBM `Booster.predict` alone (raw margins, 2 threads) on the
    encoded rows: the encode is ours, and a blend champion's scorecard part our own numpy
    code — floor (a) counts both; this is the library's share (0 for a model without one)."""
    booster = getattr(model.engine, "booster", None)
    if booster is None:
        return 0.0
    t0 = time.perf_counter()
    booster.predict(x, raw_score=True, num_threads=2)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--partition", type=int, default=100_000)
    parser.add_argument("--facts", action=argparse.BooleanOptionalAction, default=True,
                        help="post-loan facts for the behaviour features (default on)")
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        champions(tmp)
        resources = Resources(tmp, str(ROOT / "rules"))
        # both sides warm before the clock: the behaviour champion and compiled rules as the
        # nightly worker loads them once (`inspection.warm`), which the floors score with
        bmodel = warm(resources)
        t_gen = t_job = t_bare = t_booster = 0.0
        counts: dict[str, int] = {}
        loans = 0
        for start in range(0, args.loans, args.partition):
            n = min(args.partition, args.loans - start)
            t0 = time.perf_counter()
            part = portfolio(n, start + 1, rng, args.facts)
            t1 = time.perf_counter()
            result = inspect_partition(part, AS_OF, resources)
            t2 = time.perf_counter()
            feats = postloan_features(part, AS_OF)  # the behaviour model's rows (not timed)
            t3 = time.perf_counter()
            bx = bmodel.encode(feats)
            bmodel.margins(bx, num_threads=2)
            t4 = time.perf_counter()
            t_gen, t_job, t_bare = t_gen + t1 - t0, t_job + t2 - t1, t_bare + t4 - t3
            t_booster += booster_alone(bmodel, bx)
            loans += n
            for b, c in result.loans["bucket"].value_counts().items():
                counts[b] = counts.get(b, 0) + int(c)
            for a, c in result.actions["action"].value_counts().items():
                counts[a] = counts.get(a, 0) + int(c)
            print(f"  {loans:>9,} loans  job {t_job:7.1f} s  bare scoring {t_bare:6.1f} s  "
                  f"booster {t_booster:6.1f} s", flush=True)
    print(f"loans {loans:,} ({'with' if args.facts else 'without'} post-loan facts); "
          f"generation {t_gen:.1f} s (not counted)")
    print(f"end-to-end inspect_partition: {t_job:.1f} s (budget 120 s) "
          f"= {t_job / loans * 1e6:.1f} µs/loan")
    print(f"behaviour champion: {bmodel.engine.family}")
    print(f"floor (a) bare behaviour scoring (encode + margins, 2 threads): {t_bare:.1f} s; "
          f"ratio {t_job / t_bare:.2f}×")
    print(f"floor (b) LightGBM booster alone (Booster.predict raw_score, 2 threads): "
          f"{t_booster:.1f} s; ratio {t_job / t_booster:.2f}× (goal ≤ 3×)"
          if t_booster else "floor (b): the champion has no LightGBM booster")
    print("buckets/actions:", dict(sorted(counts.items())))
    if not args.facts and counts.get("gps_alert"):
        sys.exit("gps_alert fired without any tracker fact: missing GPS was read as offline")


if __name__ == "__main__":
    main()
