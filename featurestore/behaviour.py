"""Behaviour-score features: how a loan on the books is behaving at its as-of time.

`loan_features` (the post-loan rules' features) computes these too, by calling
`behaviour_columns` on the same point-in-time join, so the nightly job, the historical
loan-month snapshots (`featurestore.snapshots`) and the rules read one definition.

Inputs are the pieces `loan_features` already holds: the prepared entity frame ``e`` (with
`as_of`, `disbursed_at`, optionally `application_score`), the installment rows ``m`` already
joined to entity rows (`_row`, `due_date`, `settled_at`, `as_of`, only installments due before
`as_of`; optionally the amounts `amount_due`, `part_paid`, `part_paid_at` — see
`compute.loan_features`) and the fact index. Every window is point-in-time: a fact counts
only when it had happened and reached us by `as_of` (the `Visible` join), a payment only
when made by `as_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from featurestore.aggregate import US_PER_DAY, FactIndex, Visible, micros
from featurestore.facts import to_utc

DAY = pd.Timedelta(days=1)
#: The columns this module adds, in catalog order.
BEHAVIOUR_COLUMNS = (
    "dpd_change_30d", "on_time_share", "days_since_last_payment", "days_late_avg_3m",
    "days_late_last_installment", "days_late_trend_3i", "days_since_on_time_payment",
    "partly_paid_installments", "payment_to_due_ratio_3m",
    "vehicle_gps_offline_change_30d", "vehicle_out_of_province_change_30d",
    "app_last_upload_days", "sms_collection_since_loan", "sms_collection_30d_on_book",
    "sms_collection_90d_on_book", "bureau_new_open_loans", "bureau_new_overdue",
    "bureau_inquiries_30d_on_book", "bureau_inquiries_90d_on_book",
    "bureau_loans_opened_on_book", "bureau_loans_opened_90d_on_book", "application_score",
)


def _per_row(n: int, grouped: pd.Series, fill: float = np.nan) -> np.ndarray:
    return grouped.reindex(pd.RangeIndex(n), fill_value=fill).to_numpy(dtype="float64")


def entity_visible(e: pd.DataFrame, index: FactIndex, source: str) -> Visible:
    """Facts of one source each entity row may see at its as-of time (the customer codes
    and as-of micros of `with_fact_codes` when the frame has them)."""
    if "_cust_code" in e.columns:
        return Visible.join(index, source, e["customer_id"].to_numpy(),
                            e["_as_of_us"].to_numpy(), codes=e["_cust_code"].to_numpy())
    return Visible.join(
        index, source, e["customer_id"].to_numpy(dtype=object).astype(str), micros(e["as_of"])
    )


def with_fact_codes(e: pd.DataFrame, index: FactIndex) -> None:
    """Look the entity customers up in the fact index once, for every `_visible` join."""
    e["_cust_code"] = index.customer_codes(e["customer_id"].to_numpy(dtype=object))
    e["_as_of_us"] = micros(e["as_of"])


class Joins:
    """Each fact source joined once per entity frame: the loan features and the behaviour
    columns read the same sources (vehicle GPS, SMS, PBOC), and each `Visible.join` of a
    100k-loan partition costs tens of milliseconds. Only for one frame ``e`` and one index."""

    def __init__(self, e: pd.DataFrame, index: FactIndex):
        self.e, self.index = e, index
        self._joined: dict[str, Visible] = {}

    def __call__(self, source: str) -> Visible:
        got = self._joined.get(source)
        if got is None:
            got = self._joined[source] = entity_visible(self.e, self.index, source)
        return got


NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class InstallmentRows:
    """Installments due before each entity row's `as_of`, joined to the rows: int64
    microseconds (`settled` NAT while unpaid in the data), the amounts when given. Plain
    arrays, not a merged frame — the nightly job runs this per partition of 100k loans.

    `unpaid` and `late_days` are computed once (the loan features and the behaviour columns
    both read them); when the pairs come grouped by entity row (a night's read lists each
    loan's lines together) the per-row reductions run over the runs (`reduceat`), not
    scattered `maximum.at` passes."""

    n_rows: int
    row: np.ndarray
    as_of: np.ndarray
    due: np.ndarray
    settled: np.ndarray
    amount_due: np.ndarray | None = None
    part_paid: np.ndarray | None = None
    part_paid_at: np.ndarray | None = None

    @cached_property
    def unpaid(self) -> np.ndarray:
        """Not settled by `as_of` (a later settlement counts as unpaid then)."""
        return (self.settled == NAT) | (self.settled > self.as_of)

    @cached_property
    def late_days(self) -> np.ndarray:
        """Whole days late: at settlement, or at `as_of` while unpaid."""
        until = np.where(self.unpaid, self.as_of, self.settled)
        return np.maximum(until - self.due, 0) // US_PER_DAY

    @cached_property
    def runs(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(entity row, first pair) of each run of pairs when they are grouped by row (rows
        non-decreasing), else None."""
        r = self.row
        if not len(r) or not (r[1:] >= r[:-1]).all():
            return None
        starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        return r[starts], starts

    @cached_property
    def due_90d(self) -> np.ndarray:
        """Due in the 90 days up to `as_of`."""
        return self.as_of - self.due <= 90 * US_PER_DAY

    @cached_property
    def days_past_due(self) -> np.ndarray:
        """Per entity row, the days late of its oldest installment unpaid at `as_of`."""
        return self.max_per_row(np.where(self.unpaid, self.late_days, 0))

    def max_per_row(self, values: np.ndarray, floor: int | np.ndarray = 0) -> np.ndarray:
        """Per entity row, the largest of its values and ``floor`` (a scalar or one per row),
        as int64."""
        values = values.astype(np.int64, copy=False)
        out = np.array(np.broadcast_to(floor, self.n_rows), np.int64)
        if self.runs is None:
            np.maximum.at(out, self.row, values)
        else:
            rows, starts = self.runs
            out[rows] = np.maximum(np.maximum.reduceat(values, starts), out[rows])
        return out

    def sum_per_row(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.row, weights=values, minlength=self.n_rows)

    def count_per_row(self) -> np.ndarray:
        return np.bincount(self.row, minlength=self.n_rows).astype("float64")


def _us(values: pd.Series) -> np.ndarray:
    return micros(to_utc(values))


def _key(values: pd.Series) -> pd.Index:
    """Loan keys as integers when they are (the nightly job's ids: no text hashing), else
    as text."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return pd.Index(values.to_numpy(dtype=np.int64))
    return pd.Index(values.astype(str).to_numpy(dtype=object))


def installment_rows(e: pd.DataFrame, installments: pd.DataFrame) -> InstallmentRows:
    """Pair each entity row of ``e`` (`_row`, `entity_id`, `as_of`) with its loan's
    installments (`loan_id` = `entity_id`) due before its `as_of` — an integer join on the
    loan keys' codes (one entity row per loan at night, many in the snapshots)."""
    ids, loan_ids = _key(e["entity_id"]), _key(installments["loan_id"])
    if ids.dtype.kind != loan_ids.dtype.kind:  # 7 and "7" are the same loan
        ids, loan_ids = ids.astype(str), loan_ids.astype(str)
    if ids.is_unique:  # one row per loan (the night): each line pairs with its loan's row
        row = ids.get_indexer(loan_ids)
        pos = np.flatnonzero(row >= 0)  # installment row of each pair
        row = row[pos]
    else:
        keys = ids.unique()
        e_code = keys.get_indexer(ids)
        i_code = keys.get_indexer(loan_ids)
        order = np.argsort(e_code, kind="stable")  # entity rows grouped by loan
        per_key = np.bincount(e_code, minlength=len(keys))
        first = np.concatenate([[0], np.cumsum(per_key)[:-1]])
        inst_pos = np.flatnonzero(i_code >= 0)
        counts = per_key[i_code[inst_pos]]
        pos = np.repeat(inst_pos, counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        row = order[np.repeat(first[i_code[inst_pos]], counts) + within]
    as_of = micros(e["as_of"])[row]
    due = _us(installments["due_date"])[pos]
    keep = due < as_of
    if not keep.all():  # the night hands over only the lines already due
        row, pos, as_of, due = row[keep], pos[keep], as_of[keep], due[keep]
    extra: dict[str, np.ndarray] = {}
    if "amount_due" in installments.columns:
        extra["amount_due"] = installments["amount_due"].to_numpy(dtype="float64")[pos]
        if "part_paid_at" in installments.columns:
            extra["part_paid"] = np.nan_to_num(
                installments["part_paid"].to_numpy(dtype="float64"))[pos]
            extra["part_paid_at"] = _us(installments["part_paid_at"])[pos]
    return InstallmentRows(len(e), row, as_of, due, _us(installments["settled_at"])[pos],
                           **extra)


def repayment_columns(e: pd.DataFrame, m: InstallmentRows) -> dict[str, np.ndarray]:
    """DPD trend, on-time share, lateness and payment recency from the installments due
    before as_of."""
    n = len(e)
    as_of, due, settled = m.as_of, m.due, m.settled
    paid = ~m.unpaid
    # DPD 30 days ago, on the installments already due then and unpaid then
    then = as_of - 30 * US_PER_DAY
    late_then = np.zeros(len(due), np.int64)
    open_then = np.flatnonzero((due < then) & ((settled == NAT) | (settled > then)))
    late_then[open_then] = np.maximum(then[open_then] - due[open_then], 0) // US_PER_DAY
    dpd_then = m.max_per_row(late_then)
    on_time = paid & (settled <= due + US_PER_DAY)
    due_count = m.count_per_row()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(due_count > 0, m.sum_per_row(on_time) / due_count, np.nan)
    disbursed = micros(e["disbursed_at"])
    # the latest payment, if after booking
    last = m.max_per_row(np.where(paid, settled, NAT), floor=disbursed)
    # days late creeping up while still current: mean lateness of the last 90 days' dues
    recent = m.due_90d
    late_days = m.late_days
    n_recent = np.bincount(m.row[recent], minlength=n).astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_late = np.bincount(m.row[recent], weights=late_days[recent], minlength=n) / n_recent
    last_on_time = m.max_per_row(np.where(on_time, settled, NAT), floor=disbursed)
    as_of_us = micros(e["as_of"])
    out = {
        "dpd_change_30d": m.days_past_due - dpd_then,
        "on_time_share": share,
        "days_since_last_payment": np.floor((as_of_us - last) / US_PER_DAY),
        "days_late_avg_3m": np.where(n_recent > 0, avg_late, np.nan),
        "days_since_on_time_payment": np.floor((as_of_us - last_on_time) / US_PER_DAY),
    }
    out.update(latest_lateness(m, late_days))
    out.update(amount_columns(m, paid, recent, n))
    return out


def latest_lateness(m: InstallmentRows, late_days: np.ndarray) -> dict[str, np.ndarray]:
    """Days late of the latest installment due, and that minus the third latest's: a loan
    paying later each month inside the grace month is "current" at every month-end, yet
    drifting (the stress pattern lenders watch before a default). A night's read lists each
    loan's lines in due order, so the latest are the last of each run; otherwise three
    running maxima of the due dates, not a sort."""
    n = m.n_rows
    last, third = np.full(n, np.nan), np.full(n, np.nan)
    if m.runs is not None and ((m.due[1:] > m.due[:-1]) | (m.row[1:] != m.row[:-1])).all():
        rows, starts = m.runs
        ends = np.r_[starts[1:], len(m.row)]  # one past each run's last pair
        last[rows] = late_days[ends - 1]
        three = ends - starts >= 3
        third[rows[three]] = late_days[ends[three] - 3]
        return {"days_late_last_installment": last, "days_late_trend_3i": last - third}
    picked = []
    below = np.full(len(m.row), True)
    for _ in range(3):  # the latest, second latest and third latest due date per row
        newest = np.full(n, NAT)
        np.maximum.at(newest, m.row[below], m.due[below])
        hit = below & (m.due == newest[m.row])
        late = np.full(n, np.nan)
        late[m.row[hit]] = late_days[hit]
        picked.append(late)
        below &= ~hit
    return {"days_late_last_installment": picked[0],
            "days_late_trend_3i": picked[0] - picked[2]}


def amount_columns(m: InstallmentRows, paid: np.ndarray, recent: np.ndarray, n: int
                   ) -> dict[str, np.ndarray]:
    """Partial payments and the payment-to-due ratio, from the installment amounts.

    At `as_of` an installment has paid its `amount_due` when settled by then, its `part_paid`
    when that part-payment was made by then (`part_paid_at`), else nothing. Missing for every
    row when the installments carry no amounts."""
    if m.amount_due is None:
        return {"partly_paid_installments": np.full(n, np.nan),
                "payment_to_due_ratio_3m": np.full(n, np.nan)}
    rows, due_amt = m.row, m.amount_due
    if m.part_paid_at is None:
        partly = np.zeros(len(rows), bool)
        part = np.zeros(len(rows))
    else:
        part = m.part_paid
        partly = ~paid & (m.part_paid_at != NAT) & (m.part_paid_at <= m.as_of) & (part > 0)
    paid_amt = np.where(paid, due_amt, np.where(partly, part, 0.0))
    owed = np.bincount(rows[recent], weights=due_amt[recent], minlength=n)
    got = np.bincount(rows[recent], weights=paid_amt[recent], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(owed > 0, got / owed, np.nan)
    return {
        "partly_paid_installments": np.bincount(rows[partly], minlength=n).astype("float64"),
        "payment_to_due_ratio_3m": ratio,
    }


def fact_columns(e: pd.DataFrame, index: FactIndex, joins: Joins | None = None
                 ) -> dict[str, np.ndarray]:
    """GPS trend, app upload recency, new collection SMS and bureau changes since booking
    (``joins``: the caller's joins of ``e``, when it already joined some sources)."""
    _visible = joins or Joins(e, index)
    out: dict[str, np.ndarray] = {}
    n = len(e)
    disbursed = micros(e["disbursed_at"])

    gps = _visible("vehicle_gps")
    recent = gps.within_days(30)
    before = gps.subset((gps.age_days >= 30) & (gps.age_days < 60))
    days_recent = recent.distinct_days()
    days_before = before.distinct_days()
    out["vehicle_gps_offline_change_30d"] = np.where(gps.has_any(), days_before - days_recent,
                                                     np.nan)
    # travel pattern change: out-of-province share of the last 30 days' fixes minus 30–60
    out["vehicle_out_of_province_change_30d"] = recent.mean() - before.mean()

    newest = np.full(n, np.iinfo(np.int64).min)
    for source in ("sms", "gps", "contact", "photo"):
        v = _visible(source)
        if len(v.row):
            np.maximum.at(newest, v.row, v.uploaded_us)
    as_of_us = micros(e["as_of"])
    out["app_last_upload_days"] = np.where(newest > np.iinfo(np.int64).min,
                                           np.floor((as_of_us - newest) / US_PER_DAY), np.nan)

    sms = _visible("sms")
    after = sms.subset(sms.event_us > disbursed[sms.row])
    uploaded_after = sms.subset(sms.uploaded_us > disbursed[sms.row]).has_any()
    collection = after.of_kind("collection")
    out["sms_collection_since_loan"] = np.where(uploaded_after, collection.count(), np.nan)
    # other lenders' notices only (a lending platform signs them; ours and unsigned ones do
    # not count), recent ones: stress elsewhere shows weeks before it reaches us
    others = collection.subset(collection.key >= 0)
    for days in (30, 90):
        out[f"sms_collection_{days}d_on_book"] = np.where(
            uploaded_after, others.within_days(days).count(), np.nan)

    pboc = _visible("pboc")
    refreshed = pboc.subset(pboc.uploaded_us > disbursed[pboc.row])
    at_booking = pboc.subset(pboc.uploaded_us <= disbursed[pboc.row])
    has_refresh = refreshed.of_kind("report").has_any()
    # open loans and overdue at other lenders: a refreshed report lists our own loan (and our
    # own arrears) too (reports stored before `own_open_loans` / `own_overdue_amount` existed
    # have none of it: 0 own)
    now = refreshed.latest_upload_only()
    then = at_booking.latest_upload_only()
    now_open = now.latest("open_loans") - np.nan_to_num(now.latest("own_open_loans"))
    then_open = then.latest("open_loans") - np.nan_to_num(then.latest("own_open_loans"))
    now_overdue = now.latest("overdue_amount") - np.nan_to_num(now.latest("own_overdue_amount"))
    then_overdue = then.latest("overdue_amount") - np.nan_to_num(
        then.latest("own_overdue_amount"))
    out["bureau_new_open_loans"] = np.where(
        has_refresh, np.fmax(now_open - np.nan_to_num(then_open), 0), np.nan)
    out["bureau_new_overdue"] = np.where(
        has_refresh, (now_overdue > np.nan_to_num(then_overdue)) * 1.0, np.nan)
    # credit shopping since booking, recent: lender inquiries dated after the disbursement
    # (each counted once across the monthly refreshes that repeat it)
    inquiries = refreshed.of_kind("inquiry")
    inquiries = inquiries.subset(inquiries.event_us > disbursed[inquiries.row])
    for days in (30, 90):
        out[f"bureau_inquiries_{days}d_on_book"] = np.where(
            has_refresh, inquiries.within_days(days).count_distinct_keys(), np.nan)
    # new loans at other lenders since booking, each once: the open-loan count's change above
    # nets them against loans that matured meanwhile; recent ones are the stacking signal
    opened = refreshed.of_kind("loan_opened")
    opened = opened.subset(opened.event_us > disbursed[opened.row])
    out["bureau_loans_opened_on_book"] = np.where(has_refresh, opened.count_distinct_keys(),
                                                  np.nan)
    out["bureau_loans_opened_90d_on_book"] = np.where(
        has_refresh, opened.within_days(90).count_distinct_keys(), np.nan)
    return out


def behaviour_columns(e: pd.DataFrame, index: FactIndex, m: InstallmentRows,
                      joins: Joins | None = None) -> dict[str, np.ndarray]:
    """Every `BEHAVIOUR_COLUMNS` value for the entity rows of ``e`` (see the module doc)."""
    cols = repayment_columns(e, m)
    cols.update(fact_columns(e, index, joins))
    score = e["application_score"] if "application_score" in e.columns else None
    cols["application_score"] = (np.full(len(e), np.nan) if score is None
                                 else pd.to_numeric(score, errors="coerce")
                                 .to_numpy(dtype="float64"))
    return cols
