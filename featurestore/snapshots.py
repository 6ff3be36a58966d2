"""Loan-month snapshots: the behaviour score's training frame, point-in-time.

One row per loan active at each month start (`snapshot_at`, 00:00 UTC on the 1st: the
month-end close), with the post-loan features as they were known then — computed by
`compute.loan_features`, the code the nightly job runs — and the target: does the loan reach
`dpd` days past due within the next `horizon_months`? Snapshots already at or beyond `dpd` are
excluded (they are not "going bad", they are bad), and so are loans repaid in full by then.
A snapshot whose horizon runs past the data (`observed_until`) is kept with a missing target,
which training drops, so the latest months never count as good by lack of time.

When does a loan first reach D days past due? The oldest unpaid installment drives DPD, so the
loan is D days late at ``due + D`` for any installment still unpaid then; the first such
moment after the snapshot is what the target asks about.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from featurestore import compute
from featurestore.definitions import FeatureCatalog
from featurestore.facts import to_utc

DAY = pd.Timedelta(days=1)
DEFAULT_HORIZON_MONTHS = 6
DEFAULT_DPD = 60
TIME_COLUMN = "snapshot_at"


def target_name(dpd: int = DEFAULT_DPD, horizon_months: int = DEFAULT_HORIZON_MONTHS) -> str:
    return f"bad_{dpd}dpd_{horizon_months}m"


def month_starts(first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """Every 1st of a month (00:00 UTC) strictly after ``first`` and at or before ``last``."""
    start = (first.tz_convert("UTC").normalize() + pd.offsets.MonthBegin(1))
    return pd.date_range(start, last.tz_convert("UTC"), freq="MS", tz="UTC")


def snapshot_entities(
    loans: pd.DataFrame,
    installments: pd.DataFrame,
    *,
    dpd: int = DEFAULT_DPD,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    observed_until: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Loan × month-start rows of active loans with the target (see the module doc).

    loans: `loan_id`, `customer_id`, `disbursed_at` (+ optional `application_id`);
    installments: `loan_id`, `due_date`, `settled_at`. Returns the loan entity columns
    (`entity_id`, `customer_id`, `as_of`, `disbursed_at`), `loan_id`, `snapshot_at` and the
    target (1.0 bad / 0.0 good / NaN not yet observable)."""
    loans = loans.assign(disbursed_at=to_utc(loans["disbursed_at"]))
    inst = installments.assign(due_date=to_utc(installments["due_date"]),
                               settled_at=to_utc(installments["settled_at"]))
    if observed_until is None:
        observed_until = max(inst["settled_at"].max(), loans["disbursed_at"].max())
    observed_until = pd.Timestamp(observed_until)
    observed_until = (observed_until.tz_localize("UTC") if observed_until.tzinfo is None
                      else observed_until.tz_convert("UTC"))
    months = month_starts(loans["disbursed_at"].min(), observed_until).astype(
        loans["disbursed_at"].dtype)
    # when each loan is repaid in full (NaT while anything is unpaid)
    by_loan = inst.groupby("loan_id")["settled_at"]
    done = by_loan.max().where(by_loan.count() == by_loan.size())
    grid = loans[["loan_id", "customer_id", "disbursed_at"]].merge(
        pd.DataFrame({"as_of": months}), how="cross")
    grid = grid[grid["disbursed_at"] < grid["as_of"]]
    closed = grid["loan_id"].map(done)
    grid = grid[closed.isna() | (closed > grid["as_of"])].reset_index(drop=True)
    # moments each installment is `dpd` days late while still unpaid
    hit_at = inst["due_date"] + dpd * DAY
    late = inst["settled_at"].isna() | (inst["settled_at"] > hit_at)
    hits = pd.DataFrame({"loan_id": inst["loan_id"][late], "hit_at": hit_at[late]})
    hits = hits[hits["hit_at"] <= observed_until]
    horizon_end = grid["as_of"] + pd.DateOffset(months=horizon_months)
    pairs = grid[["loan_id", "as_of"]].assign(_row=grid.index, _end=horizon_end).merge(
        hits, on="loan_id")
    # at or beyond `dpd` now: an installment `dpd` days late by as_of and still unpaid then
    current = grid[["loan_id", "as_of"]].assign(_row=grid.index).merge(
        inst[["loan_id", "due_date", "settled_at"]], on="loan_id")
    current = current[(current["due_date"] + dpd * DAY <= current["as_of"])
                      & (current["settled_at"].isna() | (current["settled_at"] > current["as_of"]))]
    bad_now = np.zeros(len(grid), bool)
    bad_now[current["_row"].unique()] = True
    ahead = pairs[(pairs["hit_at"] > pairs["as_of"]) & (pairs["hit_at"] <= pairs["_end"])]
    bad = np.zeros(len(grid))
    bad[ahead["_row"].unique()] = 1.0
    observable = (horizon_end <= observed_until).to_numpy()
    # unobservable → unknown, bad or not: keeping the early bads alone would inflate the
    # latest months' bad rate (the out-of-time part) and break calibration
    target = np.where(observable, bad, np.nan)
    out = grid.assign(entity_id=grid["loan_id"], **{TIME_COLUMN: grid["as_of"],
                                                    target_name(dpd, horizon_months): target})
    return out[~bad_now].reset_index(drop=True)


def historical_loan_snapshots(
    store: Path,
    *,
    dpd: int = DEFAULT_DPD,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    application_scores: pd.Series | None = None,
    observed_until: pd.Timestamp | None = None,
    cat: FeatureCatalog | None = None,
    facts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The snapshot frame of an offline store: features + `loan_id`, `customer_id`,
    `snapshot_at` and the target. ``application_scores``: the application model's points per
    `application_id` (the `application_score` feature; missing without it)."""
    from featurestore.offline import load_facts

    store = Path(store)
    loans = pd.read_parquet(store / "loans.parquet")
    inst = pd.read_parquet(store / "installments.parquet")
    e = snapshot_entities(loans, inst, dpd=dpd, horizon_months=horizon_months,
                          observed_until=observed_until)
    if application_scores is not None and "application_id" in loans.columns:
        app_of = loans.set_index("loan_id")["application_id"]
        e["application_score"] = e["loan_id"].map(app_of).map(application_scores)
    f = facts if facts is not None else load_facts(store)
    frame = compute.loan_features(e, f, inst, cat)
    target = target_name(dpd, horizon_months)
    extras = e[["loan_id", "customer_id", TIME_COLUMN, target]].reset_index(drop=True)
    return pd.concat([frame.drop(columns=["entity_id"]), extras], axis=1)
