"""Feature computation: one vectorised implementation for online vectors and historical frames.

Every function takes an *entity frame* (one row per entity with its `as_of` time) and the
sanitised facts, and returns one row per entity with catalog features. Point-in-time
correctness is enforced here, once: a fact counts only if it happened **and** reached the
platform at or before the entity's `as_of` (`event_time <= as_of` and `uploaded_at <= as_of`),
so a back-filled upload can never leak into a training row dated before it arrived.

Windows are half-open on the left: "in 30 days" means `as_of - 30 days < event_time <= as_of`.
Integer features are returned as float64 with NaN for missing (the catalog's `missing` says
what NaN means), booleans as 0.0/1.0, categories as pandas Categoricals with the catalog's
categories — the layout LightGBM and the batch rule evaluator take as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featurestore.definitions import FeatureCatalog, catalog
from featurestore.facts import to_utc

DAY = pd.Timedelta(days=1)
HOME_RADIUS_KM = 50.0  # "in the declared city": within 50 km of the declared home
# Indicative price used for installment-to-income before a product is matched: the
# feature must not depend on the pricing it helps to choose.
INDICATIVE_ANNUAL_RATE = 0.08
EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between arrays of WGS-84 points (degrees)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype="float64")) for v in
                              (lat1, lon1, lat2, lon2))
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def equal_installment(amount, annual_rate: float, term_months) -> np.ndarray:
    """Monthly 等额本息 installment (float, for ratios; servicing prices in Decimal cents)."""
    r = annual_rate / 12
    n = np.asarray(term_months, dtype="float64")
    return np.asarray(amount, dtype="float64") * r / (1 - (1 + r) ** -n)


def _visible(entities: pd.DataFrame, facts: pd.DataFrame, source: str) -> pd.DataFrame:
    """Facts of one source joined to the entity rows that may see them (point in time)."""
    f = facts[facts["source"] == source]
    m = entities[["_row", "customer_id", "as_of"]].merge(f, on="customer_id", how="inner")
    keep = (m["event_time"] <= m["as_of"]) & (m["uploaded_at"] <= m["as_of"])
    m = m[keep]
    return m.assign(age_days=(m["as_of"] - m["event_time"]) / DAY)


def _per_row(index: pd.Index, values: pd.Series, fill: float = np.nan) -> np.ndarray:
    return values.reindex(index, fill_value=fill).to_numpy(dtype="float64")


def _count(m: pd.DataFrame, rows: pd.Index, mask, present: np.ndarray | None) -> np.ndarray:
    """Count matching facts per row; NaN where the source has no data for the row."""
    counts = _per_row(rows, m[mask].groupby("_row").size(), 0.0)
    return counts if present is None else np.where(present, counts, np.nan)


def _latest(m: pd.DataFrame, rows: pd.Index, kind: str, column: str = "value") -> np.ndarray:
    """The value of the most recent fact of ``kind`` per row (ties: the last uploaded)."""
    k = m[m["kind"] == kind].sort_values(["_row", "event_time", "uploaded_at"])
    last = k.groupby("_row")[column].last()
    if column == "key":
        return last.reindex(rows).to_numpy(dtype=object)
    return _per_row(rows, last)


def _device_features(e: pd.DataFrame, facts: pd.DataFrame) -> dict[str, np.ndarray]:
    rows = e.index
    out: dict[str, np.ndarray] = {}

    sms = _visible(e, facts, "sms")
    has_sms = _per_row(rows, sms.groupby("_row").size(), 0.0) > 0
    collection = sms["kind"] == "collection"
    for days in (30, 90, 180):
        out[f"sms_collection_{days}d"] = _count(sms, rows, collection & (sms["age_days"] < days),
                                                has_sms)
    platforms = sms[sms["key"].notna() & (sms["age_days"] < 180)].groupby("_row")["key"].nunique()
    out["sms_lending_platforms_180d"] = np.where(has_sms, _per_row(rows, platforms, 0.0), np.nan)

    contacts = _visible(e, facts, "contact")
    has_contacts = _per_row(rows, contacts.groupby("_row").size(), 0.0) > 0
    out["contacts_blacklisted"] = _count(contacts, rows, contacts["kind"] == "blacklist",
                                         has_contacts)
    out["contacts_loan_company"] = _count(contacts, rows, contacts["kind"] == "loan_company",
                                          has_contacts)

    gps = _visible(e, facts, "gps")
    gps90 = gps[gps["age_days"] < 90]
    out["gps_pings_90d"] = _per_row(rows, gps90.groupby("_row").size(), 0.0)
    share = (gps90["value"] <= HOME_RADIUS_KM).groupby(gps90["_row"]).mean()
    out["gps_share_in_home_city_90d"] = _per_row(rows, share)

    photos = _visible(e, facts, "photo")
    out["photo_gps_points"] = _per_row(rows, photos.groupby("_row").size(), 0.0)
    out["photo_home_median_km"] = _per_row(rows, photos.groupby("_row")["value"].median())

    # Fraud rings share phones: count *other* customers whose registration from the same
    # device was visible at as_of. Needs every customer's device facts, not just this one's.
    dev = facts[(facts["source"] == "device") & (facts["kind"] == "registration")]
    own = _visible(e, facts, "device")[["_row", "key", "as_of", "customer_id"]]
    pairs = own.merge(dev[["customer_id", "key", "uploaded_at"]], on="key", suffixes=("", "_o"))
    pairs = pairs[(pairs["customer_id_o"] != pairs["customer_id"])
                  & (pairs["uploaded_at"] <= pairs["as_of"])]
    out["device_shared_customers"] = _per_row(
        rows, pairs.groupby("_row")["customer_id_o"].nunique(), 0.0)
    return out


def _identity_features(e: pd.DataFrame, facts: pd.DataFrame) -> dict[str, np.ndarray]:
    rows = e.index
    ident = _visible(e, facts, "identity")
    liveness_verdict = _latest(ident, rows, "liveness", "key")
    passed = np.where(pd.isna(liveness_verdict), np.nan,
                      (liveness_verdict == "pass").astype("float64"))
    return {
        "id_card_verified": _latest(ident, rows, "id_card"),
        "liveness_score": _latest(ident, rows, "liveness"),
        "liveness_passed": passed,
        "four_element_match": _latest(ident, rows, "four_element"),
    }


def _bureau_features(e: pd.DataFrame, facts: pd.DataFrame) -> dict[str, np.ndarray]:
    rows = e.index
    out: dict[str, np.ndarray] = {}
    pboc = _visible(e, facts, "pboc")
    # The latest report visible at as_of supplies the balance-type features.
    reports = pboc[pboc["kind"] == "report"].groupby("_row")["uploaded_at"].max()
    has_report = _per_row(rows, reports.notna().astype(float), 0.0) > 0
    out["bureau_report_available"] = has_report.astype("float64")
    report_time = pboc["uploaded_at"].where(pboc["kind"] == "report")
    current = pboc[pboc["uploaded_at"] == report_time.groupby(pboc["_row"]).transform("max")]

    # Inquiries repeat in every monthly refresh: count distinct (institution, date) digests.
    inq = pboc[pboc["kind"] == "inquiry"]
    for months, days in ((1, 30), (3, 91), (6, 182), (12, 365)):
        n = inq[inq["age_days"] < days].groupby("_row")["key"].nunique()
        out[f"bureau_inquiries_{months}m"] = np.where(has_report, _per_row(rows, n, 0.0), np.nan)

    def snapshot(kind: str) -> np.ndarray:
        return _latest(current, rows, kind)

    out["bureau_worst_status_24m"] = snapshot("worst_status_24m")
    out["bureau_overdue_amount"] = np.where(has_report, snapshot("overdue_amount"), np.nan)
    limit, balance = snapshot("card_limit"), snapshot("card_balance")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["bureau_card_utilisation"] = np.where(limit > 0, balance / limit, np.nan)
    out["bureau_open_loans"] = np.where(has_report, snapshot("open_loans"), np.nan)
    as_of_days = (e["as_of"] - pd.Timestamp(0, tz="UTC")) / DAY
    oldest = snapshot("oldest_account")
    out["bureau_months_since_oldest"] = np.floor((as_of_days.to_numpy() - oldest) / 30.4375)

    tp = _visible(e, facts, "thirdparty")
    out["tp_score"] = _latest(tp, rows, "score")
    out["tp_blacklisted"] = _latest(tp, rows, "blacklist")
    out["tp_multi_lending"] = _latest(tp, rows, "multi_lending")
    return out


def _application_fields(e: pd.DataFrame) -> dict[str, np.ndarray]:
    birth = to_utc(e["birth_date"])
    as_of = e["as_of"]
    had_birthday = (as_of.dt.month > birth.dt.month) | (
        (as_of.dt.month == birth.dt.month) & (as_of.dt.day >= birth.dt.day))
    age = as_of.dt.year - birth.dt.year - (~had_birthday).astype(int)
    price = e["vehicle_price"].to_numpy(dtype="float64")
    amount = e["loan_amount"].to_numpy(dtype="float64")
    income = e["monthly_income"].to_numpy(dtype="float64")
    installment = equal_installment(amount, INDICATIVE_ANNUAL_RATE, e["term_months"])
    with np.errstate(divide="ignore", invalid="ignore"):
        iti = np.where(income > 0, installment / income, np.nan)
    return {
        "age_at_application": age.to_numpy(dtype="float64"),
        "monthly_income": income,
        "vehicle_price": price,
        "loan_amount": amount,
        "loan_to_value": amount / price,
        "down_payment_ratio": e["down_payment"].to_numpy(dtype="float64") / price,
        "installment_to_income": iti,
        "term_months": e["term_months"].to_numpy(dtype="float64"),
        "home_to_dealer_km": haversine_km(e["home_lat"], e["home_lon"],
                                          e["dealer_lat"], e["dealer_lon"]),
        "lease_type": e["lease_type"].to_numpy(dtype=object),
        "dealer_channel": e["dealer_channel"].to_numpy(dtype=object),
    }


APPLICATION_ENTITY_COLUMNS = [
    "entity_id", "customer_id", "as_of", "birth_date", "monthly_income", "vehicle_price",
    "loan_amount", "down_payment", "term_months", "lease_type", "dealer_channel",
    "home_lat", "home_lon", "dealer_lat", "dealer_lon",
]


def _prepare(entities: pd.DataFrame, required: list[str]) -> pd.DataFrame:
    missing = [c for c in required if c not in entities.columns]
    if missing:
        raise ValueError(f"entity frame lacks column(s) {missing}")
    e = entities.reset_index(drop=True).copy()
    e["customer_id"] = e["customer_id"].astype("string")
    e["as_of"] = to_utc(e["as_of"])
    e["_row"] = e.index
    return e


def _frame(e: pd.DataFrame, columns: dict[str, np.ndarray], cat: FeatureCatalog,
           entity: str) -> pd.DataFrame:
    out = pd.DataFrame({"entity_id": e["entity_id"].to_numpy(), "as_of": e["as_of"].to_numpy()})
    for f in cat.for_entity(entity):
        if f.source == "model":
            continue
        values = columns[f.name]
        if f.dtype == "category":
            out[f.name] = pd.Categorical(values, categories=list(f.categories))
        else:
            out[f.name] = np.asarray(values, dtype="float64")
    return out


def application_features(entities: pd.DataFrame, facts: pd.DataFrame,
                         cat: FeatureCatalog | None = None) -> pd.DataFrame:
    """Application features for each entity row (`APPLICATION_ENTITY_COLUMNS`), in row order."""
    cat = cat or catalog()
    e = _prepare(entities, APPLICATION_ENTITY_COLUMNS)
    cols: dict[str, np.ndarray] = {}
    cols.update(_device_features(e, facts))
    cols.update(_identity_features(e, facts))
    cols.update(_bureau_features(e, facts))
    cols.update(_application_fields(e))
    return _frame(e, cols, cat, "application")


LOAN_ENTITY_COLUMNS = ["entity_id", "customer_id", "as_of", "disbursed_at"]
INSTALLMENT_COLUMNS = ["loan_id", "due_date", "settled_at"]


def loan_features(entities: pd.DataFrame, facts: pd.DataFrame, installments: pd.DataFrame,
                  cat: FeatureCatalog | None = None) -> pd.DataFrame:
    """Post-loan features for each loan row at its `as_of`.

    ``installments``: one row per scheduled installment — `loan_id` (= the entity's
    `entity_id`), `due_date`, `settled_at` (when it was paid in full; NaT while unpaid). An
    installment settled after `as_of` counts as unpaid at `as_of`.
    """
    cat = cat or catalog()
    e = _prepare(entities, LOAN_ENTITY_COLUMNS)
    e["disbursed_at"] = to_utc(e["disbursed_at"])
    rows = e.index
    cols: dict[str, np.ndarray] = {}

    inst = installments.loc[:, INSTALLMENT_COLUMNS].copy()
    inst["loan_id"] = inst["loan_id"].astype("string")
    inst["due_date"] = to_utc(inst["due_date"])
    inst["settled_at"] = to_utc(inst["settled_at"])
    m = e[["_row", "entity_id", "as_of"]].assign(entity_id=e["entity_id"].astype("string"))
    m = m.merge(inst, left_on="entity_id", right_on="loan_id")
    m = m[m["due_date"] < m["as_of"]]
    unpaid_at_as_of = m["settled_at"].isna() | (m["settled_at"] > m["as_of"])
    late_days = ((m["settled_at"].where(~unpaid_at_as_of, m["as_of"]) - m["due_date"]) / DAY)
    late_days = np.floor(late_days.clip(lower=0))
    open_late = late_days.where(unpaid_at_as_of, 0)
    cols["days_past_due"] = _per_row(rows, open_late.groupby(m["_row"]).max(), 0.0)
    cols["worst_dpd"] = _per_row(rows, late_days.groupby(m["_row"]).max(), 0.0)
    recent = (m["as_of"] - m["due_date"]) / DAY <= 90
    missed = recent & (unpaid_at_as_of | (m["settled_at"] > m["due_date"] + DAY))
    cols["missed_payments_3m"] = _per_row(rows, missed.groupby(m["_row"]).sum(), 0.0)
    months = (e["as_of"].dt.year - e["disbursed_at"].dt.year) * 12 + (
        e["as_of"].dt.month - e["disbursed_at"].dt.month)
    months -= (e["as_of"].dt.day < e["disbursed_at"].dt.day).astype(int)
    cols["months_on_book"] = months.clip(lower=0).to_numpy(dtype="float64")

    vg = _visible(e, facts, "vehicle_gps")
    vg30 = vg[vg["age_days"] < 30]
    fix_days = vg30.assign(day=vg30["event_time"].dt.floor("D")).groupby("_row")["day"].nunique()
    cols["vehicle_gps_offline_days_30d"] = 30 - _per_row(rows, fix_days, 0.0)
    cols["vehicle_out_of_province_share_30d"] = _per_row(rows,
                                                         vg30.groupby("_row")["value"].mean())

    app = _visible(e, facts, "app")
    last_any = app.sort_values(["_row", "event_time"]).groupby("_row")["kind"].last()
    cols["app_uninstalled"] = (last_any.reindex(rows) == "uninstall").to_numpy(dtype="float64")

    pboc = _visible(e, facts, "pboc")
    inq = pboc[(pboc["kind"] == "inquiry")]
    inq = inq[inq["event_time"] > inq["_row"].map(e["disbursed_at"])]
    refreshed = pboc[(pboc["kind"] == "report")
                     & (pboc["uploaded_at"] > pboc["_row"].map(e["disbursed_at"]))]
    has_refresh = _per_row(rows, refreshed.groupby("_row").size(), 0.0) > 0
    cols["new_inquiries_since_origination"] = np.where(
        has_refresh, _per_row(rows, inq.groupby("_row")["key"].nunique(), 0.0), np.nan)
    return _frame(e, cols, cat, "loan")
