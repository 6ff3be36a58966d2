"""Behaviour-score features: how a loan on the books is behaving at its as-of time.

`loan_features` (the post-loan rules' features) computes these too, by calling
`behaviour_columns` on the same point-in-time join, so the nightly job, the historical
loan-month snapshots (`featurestore.snapshots`) and the rules read one definition.

Inputs are the pieces `loan_features` already holds: the prepared entity frame ``e`` (with
`as_of`, `disbursed_at`, optionally `application_score`), the installment rows ``m`` already
joined to entity rows (`_row`, `due_date`, `settled_at`, `as_of`, only installments due before
`as_of`) and the fact index. Every window is point-in-time: a fact counts only when it had
happened and reached us by `as_of` (the `Visible` join), a payment only when made by `as_of`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from featurestore.aggregate import US_PER_DAY, FactIndex, Visible, micros

DAY = pd.Timedelta(days=1)
#: The columns this module adds, in catalog order.
BEHAVIOUR_COLUMNS = (
    "dpd_change_30d", "on_time_share", "days_since_last_payment",
    "vehicle_gps_offline_change_30d", "app_last_upload_days", "sms_collection_since_loan",
    "bureau_new_open_loans", "bureau_new_overdue", "application_score",
)


def _per_row(n: int, grouped: pd.Series, fill: float = np.nan) -> np.ndarray:
    return grouped.reindex(pd.RangeIndex(n), fill_value=fill).to_numpy(dtype="float64")


def _visible(e: pd.DataFrame, index: FactIndex, source: str) -> Visible:
    return Visible.join(index, source, e["customer_id"].to_numpy(dtype=object).astype(str),
                        micros(e["as_of"]))


def repayment_columns(e: pd.DataFrame, m: pd.DataFrame) -> dict[str, np.ndarray]:
    """DPD trend, on-time share and payment recency from the installments due before as_of."""
    n = len(e)
    as_of, due, settled = m["as_of"], m["due_date"], m["settled_at"]
    paid = settled.notna() & (settled <= as_of)
    # DPD 30 days ago, on the installments already due then and unpaid then
    then = as_of - 30 * DAY
    was_due = due < then
    unpaid_then = settled.isna() | (settled > then)
    late_then = np.floor(((then - due) / DAY).where(was_due & unpaid_then, 0).clip(lower=0))
    open_now = np.floor(((as_of - due) / DAY).where(~paid, 0).clip(lower=0))
    dpd_now = _per_row(n, open_now.groupby(m["_row"]).max(), 0.0)
    dpd_then = _per_row(n, late_then.groupby(m["_row"]).max(), 0.0)
    on_time = paid & (settled <= due + DAY)
    due_count = _per_row(n, m.groupby("_row").size(), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(due_count > 0,
                         _per_row(n, on_time.groupby(m["_row"]).sum(), 0.0) / due_count, np.nan)
    last_paid = settled.where(paid).groupby(m["_row"]).max()
    last = pd.Series(pd.DatetimeIndex(e["disbursed_at"]), index=e.index)
    lp = last_paid.reindex(e.index)
    last = lp.where(lp.notna() & (lp > last), last)
    return {
        "dpd_change_30d": dpd_now - dpd_then,
        "on_time_share": share,
        "days_since_last_payment": np.floor(
            ((e["as_of"] - last) / DAY).to_numpy(dtype="float64")),
    }


def fact_columns(e: pd.DataFrame, index: FactIndex) -> dict[str, np.ndarray]:
    """GPS trend, app upload recency, new collection SMS and bureau changes since booking."""
    out: dict[str, np.ndarray] = {}
    n = len(e)
    disbursed = micros(e["disbursed_at"])

    gps = _visible(e, index, "vehicle_gps")
    recent = gps.within_days(30)
    before = gps.subset((gps.age_days >= 30) & (gps.age_days < 60))
    days_recent = replace(recent, key=recent.event_us // US_PER_DAY).count_distinct_keys()
    days_before = replace(before, key=before.event_us // US_PER_DAY).count_distinct_keys()
    out["vehicle_gps_offline_change_30d"] = np.where(gps.has_any(), days_before - days_recent,
                                                     np.nan)

    newest = np.full(n, np.iinfo(np.int64).min)
    for source in ("sms", "gps", "contact", "photo"):
        v = _visible(e, index, source)
        if len(v.row):
            np.maximum.at(newest, v.row, v.uploaded_us)
    as_of_us = micros(e["as_of"])
    out["app_last_upload_days"] = np.where(newest > np.iinfo(np.int64).min,
                                           np.floor((as_of_us - newest) / US_PER_DAY), np.nan)

    sms = _visible(e, index, "sms")
    after = sms.subset(sms.event_us > disbursed[sms.row])
    uploaded_after = sms.subset(sms.uploaded_us > disbursed[sms.row]).has_any()
    out["sms_collection_since_loan"] = np.where(
        uploaded_after, after.of_kind("collection").count(), np.nan)

    pboc = _visible(e, index, "pboc")
    refreshed = pboc.subset(pboc.uploaded_us > disbursed[pboc.row])
    at_booking = pboc.subset(pboc.uploaded_us <= disbursed[pboc.row])
    has_refresh = refreshed.of_kind("report").has_any()
    now_open = refreshed.latest_upload_only().latest("open_loans")
    then_open = at_booking.latest_upload_only().latest("open_loans")
    now_overdue = refreshed.latest_upload_only().latest("overdue_amount")
    then_overdue = at_booking.latest_upload_only().latest("overdue_amount")
    out["bureau_new_open_loans"] = np.where(
        has_refresh, np.fmax(now_open - np.nan_to_num(then_open), 0), np.nan)
    out["bureau_new_overdue"] = np.where(
        has_refresh, (now_overdue > np.nan_to_num(then_overdue)) * 1.0, np.nan)
    return out


def behaviour_columns(e: pd.DataFrame, index: FactIndex, m: pd.DataFrame
                      ) -> dict[str, np.ndarray]:
    """Every `BEHAVIOUR_COLUMNS` value for the entity rows of ``e`` (see the module doc)."""
    cols = repayment_columns(e, m)
    cols.update(fact_columns(e, index))
    score = e["application_score"] if "application_score" in e.columns else None
    cols["application_score"] = (np.full(len(e), np.nan) if score is None
                                 else pd.to_numeric(score, errors="coerce")
                                 .to_numpy(dtype="float64"))
    return cols
