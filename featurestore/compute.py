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

from collections.abc import Mapping
from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd

from featurestore.aggregate import US_PER_DAY, FactIndex, micros
from featurestore.behaviour import (
    Joins,
    behaviour_columns,
    entity_visible,
    installment_rows,
    with_fact_codes,
)
from featurestore.definitions import FeatureCatalog, catalog
from featurestore.facts import to_utc
from servicing.schedule import annuity_factor

DAY = pd.Timedelta(days=1)
HOME_RADIUS_KM = 50.0  # "in the declared city": within 50 km of the declared home
# Indicative price used for installment-to-income before a product is matched: the
# feature must not depend on the pricing it helps to choose.
INDICATIVE_ANNUAL_RATE = 0.08
EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between arrays of WGS-84 points (degrees)."""
    lat1, lon1, lat2, lon2 = (
        np.radians(np.asarray(v, dtype="float64")) for v in (lat1, lon1, lat2, lon2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def equal_installment(amount, annual_rate: float, term_months) -> np.ndarray:
    """Monthly 等额本息 installment (float, for ratios) by servicing's annuity formula;
    servicing bills the same formula in Decimal cents."""
    n = np.asarray(term_months, dtype="float64")
    return np.asarray(amount, dtype="float64") * annuity_factor(annual_rate / 12, n)


_visible = entity_visible  # one definition for the application and the loan features


def _per_row(index: pd.Index, values: pd.Series, fill: float = np.nan) -> np.ndarray:
    return values.reindex(index, fill_value=fill).to_numpy(dtype="float64")


def _or_missing(present: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.where(present, values, np.nan)


def _device_features(e: pd.DataFrame, index: FactIndex) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    sms = _visible(e, index, "sms")
    has_sms = sms.has_any()  # an upload marker exists even when nothing matched a keyword
    collection = sms.of_kind("collection")
    for days in (30, 90, 180):
        out[f"sms_collection_{days}d"] = _or_missing(has_sms, collection.within_days(days).count())
    out["sms_lending_platforms_180d"] = _or_missing(
        has_sms, sms.within_days(180).count_distinct_keys()
    )

    contacts = _visible(e, index, "contact")
    has_contacts = contacts.has_any()
    out["contacts_blacklisted"] = _or_missing(has_contacts, contacts.of_kind("blacklist").count())
    out["contacts_loan_company"] = _or_missing(
        has_contacts, contacts.of_kind("loan_company").count()
    )

    gps90 = _visible(e, index, "gps").within_days(90)
    out["gps_pings_90d"] = gps90.count()
    near = gps90.subset(gps90.value <= HOME_RADIUS_KM).count()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["gps_share_in_home_city_90d"] = np.where(
            gps90.count() > 0, near / gps90.count(), np.nan
        )
    photos = _visible(e, index, "photo")
    out["photo_gps_points"] = photos.count()
    out["photo_home_median_km"] = photos.median()
    out["device_shared_customers"] = _shared_device_customers(e, index)
    return out


def _shared_device_customers(e: pd.DataFrame, index: FactIndex) -> np.ndarray:
    """Other customers whose registration from the same device was known at as_of.

    Fraud rings share phones; this needs every customer's device facts, not just this one's.
    """
    own = _visible(e, index, "device")
    out = np.zeros(len(e))
    sl = index.source_slice("device")
    if not len(own.row) or sl.start == sl.stop:
        return out
    order = np.argsort(index.key[sl], kind="stable")
    dev_key = index.key[sl][order]
    dev_cust, dev_up = index.customer[sl][order], index.uploaded_us[sl][order]
    customers = index.customer_codes(e["customer_id"].to_numpy(dtype=object))
    as_of = micros(e["as_of"])
    for row, key in zip(own.row, own.key, strict=True):
        if key < 0:
            continue
        a, b = np.searchsorted(dev_key, key, "left"), np.searchsorted(dev_key, key, "right")
        others = dev_cust[a:b][(dev_cust[a:b] != customers[row]) & (dev_up[a:b] <= as_of[row])]
        out[row] = max(out[row], len(np.unique(others)))
    return out


def _identity_features(e: pd.DataFrame, index: FactIndex) -> dict[str, np.ndarray]:
    ident = _visible(e, index, "identity")
    verdict = ident.latest("liveness", "key")
    return {
        "id_card_verified": ident.latest("id_card"),
        "liveness_score": ident.latest("liveness"),
        "liveness_passed": np.where(pd.isna(verdict), np.nan, (verdict == "pass") * 1.0),
        "four_element_match": ident.latest("four_element"),
    }


def _bureau_features(e: pd.DataFrame, index: FactIndex) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    pboc = _visible(e, index, "pboc")
    has_report = pboc.of_kind("report").has_any()
    out["bureau_report_available"] = has_report * 1.0
    # Inquiries repeat in every monthly refresh: count distinct (institution, date) digests.
    inquiries = pboc.of_kind("inquiry")
    for months, days in ((1, 30), (3, 91), (6, 182), (12, 365)):
        out[f"bureau_inquiries_{months}m"] = _or_missing(
            has_report, inquiries.within_days(days).count_distinct_keys()
        )
    # The latest report visible at as_of supplies the balance-type features.
    current = pboc.latest_upload_only()
    out["bureau_worst_status_24m"] = current.latest("worst_status_24m")
    out["bureau_overdue_amount"] = _or_missing(has_report, current.latest("overdue_amount"))
    limit, balance = current.latest("card_limit"), current.latest("card_balance")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["bureau_card_utilisation"] = np.where(limit > 0, balance / limit, np.nan)
    out["bureau_open_loans"] = _or_missing(has_report, current.latest("open_loans"))
    as_of_days = micros(e["as_of"]) / US_PER_DAY
    out["bureau_months_since_oldest"] = np.floor(
        (as_of_days - current.latest("oldest_account")) / 30.4375
    )

    tp = _visible(e, index, "thirdparty")
    out["tp_score"] = tp.latest("score")
    out["tp_blacklisted"] = tp.latest("blacklist")
    out["tp_multi_lending"] = tp.latest("multi_lending")
    return out


def whole_years(born: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Completed years between two datetime64[D] arrays (a birthday counts on its day)."""
    def parts(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y, m = d.astype("datetime64[Y]"), d.astype("datetime64[M]")
        return (y.astype(int), (m - y.astype("datetime64[M]")).astype(int),
                (d - m.astype("datetime64[D]")).astype(int))

    (by, bm, bd), (oy, om, od) = parts(born), parts(on)
    before_birthday = (om < bm) | ((om == bm) & (od < bd))
    return (oy - by - before_birthday).astype("float64")


def _home_to_dealer_km(e: pd.DataFrame) -> np.ndarray:
    """From coordinates online; the offline store keeps only the distance (no home address)."""
    if "home_to_dealer_km" in e.columns:
        return e["home_to_dealer_km"].to_numpy(dtype="float64")
    return haversine_km(e["home_lat"], e["home_lon"], e["dealer_lat"], e["dealer_lon"])


def _application_fields(e: pd.DataFrame) -> dict[str, np.ndarray]:
    return _term_fields(
        to_utc(e["birth_date"]).to_numpy("datetime64[D]"), e["as_of"].to_numpy("datetime64[D]"),
        {c: e[c].to_numpy() for c in (*_TERM_INPUTS, *PROFILE_CATEGORIES)},
        _home_to_dealer_km(e))


#: the entity columns `_term_fields` reads besides the dates and the distance
_TERM_INPUTS = ("vehicle_price", "loan_amount", "monthly_income", "term_months",
                "down_payment", "lease_type", "dealer_channel")


def _term_fields(born: np.ndarray, as_of: np.ndarray, c: Mapping[str, np.ndarray],
                 distance_km: np.ndarray) -> dict[str, np.ndarray]:
    """The application features from their inputs as arrays (datetime64[D] dates): one
    computation for a frame of entities and for the one application a decision reads."""
    return {
        "age_at_application": whole_years(born, as_of),
        "monthly_income": np.asarray(c["monthly_income"], dtype="float64"),
        **loan_term_fields(c["vehicle_price"], c["loan_amount"], c["down_payment"],
                           c["term_months"], c["monthly_income"]),
        "home_to_dealer_km": distance_km,
        "lease_type": np.asarray(c["lease_type"], dtype=object),
        "dealer_channel": np.asarray(c["dealer_channel"], dtype=object),
        **{name: np.asarray(c[name], dtype=object) for name in PROFILE_CATEGORIES},
    }


def loan_term_fields(vehicle_price: Any, loan_amount: Any, down_payment: Any,
                     term_months: Any, monthly_income: Any) -> dict[str, np.ndarray]:
    """The features a change of the loan's terms changes (price, amount, LTV, down-payment
    ratio, installment-to-income, term), from arrays or scalars broadcast together — what a
    re-apply search recomputes for every candidate of its grid, without an entity frame."""
    price = np.asarray(vehicle_price, dtype="float64")
    amount = np.asarray(loan_amount, dtype="float64")
    income = np.asarray(monthly_income, dtype="float64")
    term = np.asarray(term_months, dtype="float64")
    installment = equal_installment(amount, INDICATIVE_ANNUAL_RATE, term)
    with np.errstate(divide="ignore", invalid="ignore"):
        iti = np.where(income > 0, installment / income, np.nan)
        return {
            "vehicle_price": price,
            "loan_amount": amount,
            "loan_to_value": amount / price,
            "down_payment_ratio": np.asarray(down_payment, dtype="float64") / price,
            "installment_to_income": iti,
            "term_months": term,
        }


def application_term_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """`application_terms` for one application given as a plain mapping (the keys of
    `APPLICATION_ENTITY_COLUMNS` with ``birth_date`` a date, ``as_of`` an aware datetime, and
    home/dealer coordinates): numpy on one-element arrays, no frame — what a decision reads.
    Returns feature → scalar (NaN or None where missing)."""
    as_of = row["as_of"]
    as_of = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
    as_of_day = np.array([as_of.date()], dtype="datetime64[D]")
    born = np.array([row["birth_date"]], dtype="datetime64[D]")

    def one(name: str) -> np.ndarray:
        value = row.get(name)
        return np.array([np.nan if value is None else value], dtype="float64")

    inputs: dict[str, np.ndarray] = {c: one(c) for c in (
        "vehicle_price", "loan_amount", "monthly_income", "term_months", "down_payment")}
    for name in ("lease_type", "dealer_channel", *PROFILE_CATEGORIES):
        inputs[name] = np.array([row.get(name)], dtype=object)
    if "home_to_dealer_km" in row:
        distance = one("home_to_dealer_km")
    else:
        distance = haversine_km(one("home_lat"), one("home_lon"), one("dealer_lat"),
                                one("dealer_lon"))
    return {k: v[0] for k, v in _term_fields(born, as_of_day, inputs, distance).items()}


PROFILE_CATEGORIES = ["employment", "education", "marital_status"]
APPLICATION_ENTITY_COLUMNS = [
    "entity_id",
    "customer_id",
    "as_of",
    "birth_date",
    "monthly_income",
    "vehicle_price",
    "loan_amount",
    "down_payment",
    "term_months",
    "lease_type",
    "dealer_channel",
    *PROFILE_CATEGORIES,
]  # plus home_lat/home_lon/dealer_lat/dealer_lon, or a precomputed home_to_dealer_km


def _prepare(entities: pd.DataFrame, required: list[str]) -> pd.DataFrame:
    missing = [c for c in required if c not in entities.columns]
    if missing:
        raise ValueError(f"entity frame lacks column(s) {missing}")
    e = entities.reset_index(drop=True).copy()
    e["customer_id"] = e["customer_id"].astype(object)
    e["as_of"] = to_utc(e["as_of"])
    e["_row"] = e.index
    return e


def _frame(
    e: pd.DataFrame, columns: dict[str, np.ndarray], cat: FeatureCatalog, entity: str
) -> pd.DataFrame:
    data: dict[str, object] = {
        "entity_id": e["entity_id"].to_numpy(),
        "as_of": e["as_of"].array,  # tz-aware: no per-row Timestamp objects
    }
    for f in cat.for_entity(entity):
        values = columns.get(f.name)
        if values is None:  # model outputs: provided by models/, not the store
            continue
        if f.dtype == "category":
            codes = pd.Index(f.categories).get_indexer(values)  # -1 (missing) for unknown/None
            data[f.name] = pd.Categorical.from_codes(codes, categories=list(f.categories))
        else:
            data[f.name] = np.asarray(values, dtype="float64")
    return pd.DataFrame(data)


def customer_evidence(
    entities: pd.DataFrame, facts: pd.DataFrame | FactIndex, cat: FeatureCatalog | None = None
) -> pd.DataFrame:
    """The application features that depend on the customer's data only (device, identity,
    bureau) — what the online store materialises per customer between uploads."""
    e = _prepare(entities, ["entity_id", "customer_id", "as_of"])
    index = facts if isinstance(facts, FactIndex) else FactIndex.build(facts)
    cols: dict[str, np.ndarray] = {}
    cols.update(_device_features(e, index))
    cols.update(_identity_features(e, index))
    cols.update(_bureau_features(e, index))
    return _frame(e, cols, cat or catalog(), "application")


def application_terms(entities: pd.DataFrame, cat: FeatureCatalog | None = None) -> pd.DataFrame:
    """The application features computed from the application and the declared profile."""
    e = _prepare(entities, APPLICATION_ENTITY_COLUMNS)
    return _frame(e, _application_fields(e), cat or catalog(), "application")


def application_term_columns(entities: pd.DataFrame) -> dict[str, np.ndarray]:
    """`application_terms` as raw columns — the decision path reads one row without building
    a frame (same computation, less packaging)."""
    return _application_fields(_prepare(entities, APPLICATION_ENTITY_COLUMNS))


def application_features(
    entities: pd.DataFrame, facts: pd.DataFrame | FactIndex, cat: FeatureCatalog | None = None
) -> pd.DataFrame:
    """Every application feature for each entity row (`APPLICATION_ENTITY_COLUMNS`), in
    catalog order: `customer_evidence` and `application_terms` side by side."""
    cat = cat or catalog()
    evidence = customer_evidence(entities, facts, cat)
    terms = application_terms(entities, cat).drop(columns=["entity_id", "as_of"])
    both = pd.concat([evidence, terms], axis=1)
    order = ["entity_id", "as_of"] + [f.name for f in cat.for_entity("application")
                                      if f.name in both.columns]
    return both[order]


LOAN_ENTITY_COLUMNS = ["entity_id", "customer_id", "as_of", "disbursed_at"]
INSTALLMENT_COLUMNS = ["loan_id", "due_date", "settled_at"]
#: optional: the installment amount, and a part-payment (cents) with the time it was made
INSTALLMENT_AMOUNT_COLUMNS = ["amount_due", "part_paid", "part_paid_at"]


def loan_features(
    entities: pd.DataFrame,
    facts: pd.DataFrame | FactIndex,
    installments: pd.DataFrame,
    cat: FeatureCatalog | None = None,
) -> pd.DataFrame:
    """Post-loan features for each loan row at its `as_of`.

    ``installments``: one row per scheduled installment — `loan_id` (= the entity's
    `entity_id`), `due_date`, `settled_at` (when it was paid in full; NaT while unpaid). An
    installment settled after `as_of` counts as unpaid at `as_of`.
    """
    cat = cat or catalog()
    e = _prepare(entities, LOAN_ENTITY_COLUMNS)
    e["disbursed_at"] = to_utc(e["disbursed_at"])
    cols: dict[str, np.ndarray] = {}

    m = installment_rows(e, installments)
    cols["days_past_due"] = m.days_past_due
    cols["worst_dpd"] = m.max_per_row(m.late_days)
    missed = m.due_90d & (m.unpaid | (m.settled > m.due + US_PER_DAY))
    cols["missed_payments_3m"] = m.sum_per_row(missed)
    months = (e["as_of"].dt.year - e["disbursed_at"].dt.year) * 12 + (
        e["as_of"].dt.month - e["disbursed_at"].dt.month
    )
    months -= (e["as_of"].dt.day < e["disbursed_at"].dt.day).astype(int)
    cols["months_on_book"] = months.clip(lower=0).to_numpy(dtype="float64")

    index = facts if isinstance(facts, FactIndex) else FactIndex.build(facts)
    with_fact_codes(e, index)
    joins = Joins(e, index)  # each source joined once for these and the behaviour columns
    vehicle_gps = joins("vehicle_gps")
    vg30 = vehicle_gps.within_days(30)
    # A car whose tracker never reported is unknown, not dark: only a tracker that worked
    # and stopped counts as offline.
    cols["vehicle_gps_offline_days_30d"] = _or_missing(vehicle_gps.has_any(),
                                                       30 - vg30.distinct_days())
    cols["vehicle_out_of_province_share_30d"] = vg30.mean()

    app = joins("app")
    last = app.latest(column="kind")
    cols["app_uninstalled"] = (last == "uninstall") * 1.0

    promised = joins("collections").latest("promise_to_pay")  # days since epoch
    today = np.floor(micros(e["as_of"]) / US_PER_DAY)
    cols["promise_to_pay_open"] = (np.nan_to_num(promised, nan=-1.0) >= today) * 1.0

    pboc = joins("pboc")
    disbursed = micros(e["disbursed_at"])
    after = pboc.subset(pboc.uploaded_us > disbursed[pboc.row])
    new_inquiries = after.of_kind("inquiry")
    new_inquiries = new_inquiries.subset(new_inquiries.event_us > disbursed[new_inquiries.row])
    cols["new_inquiries_since_origination"] = _or_missing(
        after.of_kind("report").has_any(), new_inquiries.count_distinct_keys()
    )
    cols.update(behaviour_columns(e, index, m, joins))  # the behaviour score's inputs, same join
    return _frame(e, cols, cat, "loan")
