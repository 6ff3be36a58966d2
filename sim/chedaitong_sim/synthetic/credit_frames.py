"""Synthetic labelled frames shaped like the feature store's historical frame, for tests and bench.

Why: the model code must be exercised before the synthetic world lands, and against a known
true PD so an oracle AUC exists. Features follow the catalog's application features (names,
dtypes, missingness, risk direction); the true PD is a non-linear function of the *observed*
features (thresholds, saturation, a U-shape in age, an interaction between lease type and
installment burden) plus a vintage drift over time nobody observes. Only numpy is used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PROVINCES = ("广东", "江苏", "浙江", "山东", "河南", "四川", "湖北", "湖南", "河北", "福建")
_PROVINCE_P = np.array([0.16, 0.13, 0.12, 0.11, 0.1, 0.09, 0.08, 0.08, 0.07, 0.06])
_WORST_STATUS_RISK = np.array([0.0, 0.4, 0.9, 1.3, 1.6, 1.7, 1.8, 1.9])
_PROVINCE_RISK = np.array([0.0, -0.1, -0.15, 0.05, 0.15, 0.1, 0.0, 0.05, 0.12, -0.05])
LEASE_TYPES = ("direct_lease", "leaseback")
CHANNELS = ("4s_store", "dealer_group", "sub_dealer")  # safest first, riskiest last


def _catalog_features() -> list | None:
    """The catalog's application features, or None when the catalog cannot be read."""
    try:
        from featurestore import catalog

        return catalog().for_entity("application")
    except Exception:  # noqa: BLE001 - the generator also works without the feature store
        return None


def _pois(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    return rng.poisson(np.clip(lam, 0, 1e3)).astype(float)


def synthetic_frame(
    n: int = 10_000,
    seed: int = 0,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    base_logit: float = -5.65,
    drift: float = 0.35,
) -> pd.DataFrame:
    """A historical frame of ``n`` applications sorted by ``applied_at``.

    Columns: ``application_id`` (int), ``applied_at`` (timestamp), the catalog's application
    features (NaN for missing, bools as 0/1 floats, categories as Categorical with the
    catalog's levels; a catalog feature unknown to this generator is noise of its dtype),
    ``bad_12m`` (0/1), ``true_pd`` (probability), ``province`` (segment).
    ``drift`` adds that much log-odds of risk from ``start`` to ``end`` (unobserved vintage
    deterioration); bad rate is about 6 %.
    """
    rng = np.random.default_rng(seed)
    t0, t1 = pd.Timestamp(start).value, pd.Timestamp(end).value
    ts = np.sort(rng.integers(t0, t1, n))
    frac = (ts - t0) / max(t1 - t0, 1)
    z = rng.standard_normal(n)  # latent credit behaviour: correlates the observed signals
    f: dict[str, np.ndarray] = {}

    sms_missing = rng.random(n) < 0.4
    c30 = _pois(rng, np.exp(-2.2 + 0.9 * z))
    c90 = c30 + _pois(rng, np.exp(-1.6 + 0.8 * z))
    c180 = c90 + _pois(rng, np.exp(-1.4 + 0.7 * z))
    plat = _pois(rng, np.exp(-0.4 + 0.6 * z))
    for name, v in (("sms_collection_30d", c30), ("sms_collection_90d", c90),
                    ("sms_collection_180d", c180), ("sms_lending_platforms_180d", plat)):
        f[name] = np.where(sms_missing, np.nan, v)
    contacts_missing = rng.random(n) < 0.2
    blacklisted = _pois(rng, np.exp(-2.4 + 0.7 * z))
    f["contacts_blacklisted"] = np.where(contacts_missing, np.nan, blacklisted)
    loan_company = _pois(rng, np.exp(0.2 + 0.4 * z))
    f["contacts_loan_company"] = np.where(contacts_missing, np.nan, loan_company)
    ring = rng.random(n) < 0.01
    shared = _pois(rng, np.full(n, 0.03))
    f["device_shared_customers"] = np.where(ring, rng.integers(2, 7, n), shared)
    pings = np.where(rng.random(n) < 0.1, 0.0, _pois(rng, np.full(n, 60.0)))
    f["gps_pings_90d"] = pings
    share = rng.beta(6 - 1.2 * np.clip(z, -2, 2), 1.5)
    f["gps_share_in_home_city_90d"] = np.where(pings > 0, share, np.nan)
    f["home_to_dealer_km"] = np.exp(rng.normal(2.7, 1.0, n) + 0.2 * z)
    photos = _pois(rng, np.full(n, 35.0)) * (rng.random(n) > 0.15)
    f["photo_gps_points"] = photos
    f["photo_home_median_km"] = np.where(photos > 0, np.exp(rng.normal(1.5, 1.2, n)), np.nan)
    f["id_card_verified"] = (rng.random(n) < 0.98).astype(float)
    live = rng.beta(18, 2, n)
    f["liveness_score"] = live
    f["liveness_passed"] = (live > 0.75).astype(float)
    f["four_element_match"] = (rng.random(n) < 0.95 - 0.02 * np.clip(z, -2, 2)).astype(float)

    has_bureau = rng.random(n) < 0.85
    i1 = _pois(rng, np.exp(-1.0 + 0.5 * z))
    i3 = i1 + _pois(rng, np.exp(-0.5 + 0.5 * z))
    i6 = i3 + _pois(rng, np.exp(-0.3 + 0.4 * z))
    i12 = i6 + _pois(rng, np.exp(0.0 + 0.4 * z))
    worst = np.clip(np.floor(rng.exponential(0.6, n) * np.exp(0.7 * z)), 0, 7)
    overdue = np.where(worst > 0, np.exp(rng.normal(7.5, 1.2, n)), 0.0)
    util = 1 / (1 + np.exp(-(rng.normal(-0.6, 1.0, n) + 0.8 * z)))
    util = np.where(rng.random(n) < 0.2, np.nan, util)
    open_loans = _pois(rng, np.exp(0.6 + 0.3 * z))
    oldest = np.round(rng.gamma(3.0, 22.0, n) * np.exp(-0.15 * z))
    bureau = {
        "bureau_inquiries_1m": i1, "bureau_inquiries_3m": i3, "bureau_inquiries_6m": i6,
        "bureau_inquiries_12m": i12, "bureau_worst_status_24m": worst,
        "bureau_overdue_amount": overdue, "bureau_card_utilisation": util,
        "bureau_open_loans": open_loans, "bureau_months_since_oldest": oldest,
    }
    f["bureau_report_available"] = has_bureau.astype(float)
    for name, v in bureau.items():
        f[name] = np.where(has_bureau, v, np.nan)
    f["tp_score"] = np.clip(np.round(650 - 55 * z + rng.normal(0, 45, n)), 300, 900)
    f["tp_blacklisted"] = (rng.random(n) < 0.01 + 0.02 * (z > 1.5)).astype(float)
    f["tp_multi_lending"] = _pois(rng, np.exp(0.1 + 0.6 * z))

    age = np.clip(np.round(rng.normal(36, 9, n)), 20, 65)
    income = np.exp(rng.normal(np.log(9000), 0.45, n) - 0.1 * z)
    price = np.exp(rng.normal(np.log(150_000), 0.35, n) + 0.5 * (np.log(income) - np.log(9000)))
    dpr = np.clip(rng.beta(3, 7, n) - 0.03 * z, 0.0, 0.7)
    term = rng.choice([12, 24, 36, 48, 60], n, p=[0.05, 0.2, 0.45, 0.15, 0.15]).astype(float)
    loan = price * (1 - dpr)
    iti = loan * (1 + 0.06 * term / 12) / term / income
    f["age_at_application"] = age
    f["monthly_income"] = np.round(income, 0)
    f["vehicle_price"] = np.round(price, 0)
    f["loan_amount"] = np.round(loan, 0)
    f["loan_to_value"] = 1 - dpr
    f["down_payment_ratio"] = dpr
    f["installment_to_income"] = iti
    f["term_months"] = term
    lease = rng.choice(2, n, p=[0.6, 0.4])
    channel = rng.choice(3, n, p=[0.3, 0.45, 0.25])
    province = rng.choice(len(PROVINCES), n, p=_PROVINCE_P)

    def nz(x: np.ndarray) -> np.ndarray:
        return np.nan_to_num(x, nan=0.0)

    logit = (
        base_logit
        + 0.32 * np.minimum(nz(f["sms_collection_90d"]), 6) + 0.25 * sms_missing
        + 0.25 * np.log1p(nz(f["sms_lending_platforms_180d"]))
        + 0.6 * (nz(f["contacts_blacklisted"]) > 0)
        + 0.15 * np.log1p(nz(f["contacts_loan_company"]))
        + 0.5 * np.log1p(f["device_shared_customers"])
        + np.where(pings > 0, -1.2 * (share - 0.75), 0.2)
        + 0.4 * (f["home_to_dealer_km"] > 80)
        - 3.0 * (live - 0.9) + 0.8 * (1 - f["four_element_match"])
        + np.where(has_bureau, 0.0, 0.3)
        + 0.3 * np.sqrt(nz(f["bureau_inquiries_3m"]))
        + _WORST_STATUS_RISK[nz(f["bureau_worst_status_24m"]).astype(int)]
        + 0.9 * np.maximum(nz(f["bureau_card_utilisation"]) - 0.6, 0)
        - 0.006 * (f["tp_score"] - 650) + 1.0 * f["tp_blacklisted"]
        + 0.2 * np.log1p(f["tp_multi_lending"])
        + 0.0015 * (age - 40) ** 2
        - 0.5 * np.log(income / 9000)
        + 2.0 * np.maximum(iti - 0.4, 0) + 0.6 * (f["loan_to_value"] > 0.8)
        + 0.1 * (term - 36) / 12
        + 0.35 * lease + 0.5 * lease * (iti > 0.35)
        + np.array([-0.1, 0.0, 0.3])[channel] + _PROVINCE_RISK[province]
        + drift * frac
    )
    true_pd = 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({"application_id": np.arange(1, n + 1), "applied_at": pd.to_datetime(ts)})
    cats = {"lease_type": (lease, LEASE_TYPES), "dealer_channel": (channel, CHANNELS)}
    defs = _catalog_features()
    if defs is None:
        for name, v in f.items():
            frame[name] = v.astype(float)
        for name, (codes, levels) in cats.items():
            frame[name] = pd.Categorical.from_codes(codes, categories=list(levels))
    noise = np.random.default_rng(seed + 1)
    for fd in defs or ():
        if fd.name in f:
            frame[fd.name] = f[fd.name].astype(float)
        elif fd.name in cats and fd.dtype == "category":
            codes, _ = cats[fd.name]
            k = len(fd.categories)
            frame[fd.name] = pd.Categorical.from_codes(
                np.minimum(codes * (k - 1) // max(len(cats[fd.name][1]) - 1, 1), k - 1),
                categories=list(fd.categories),
            )
        elif fd.dtype == "category":
            frame[fd.name] = pd.Categorical.from_codes(
                noise.integers(0, len(fd.categories), n), categories=list(fd.categories))
        elif fd.dtype == "bool":
            frame[fd.name] = (noise.random(n) < 0.5).astype(float)
        elif fd.dtype == "int":
            frame[fd.name] = noise.poisson(2.0, n).astype(float)
        else:
            frame[fd.name] = noise.normal(0.0, 1.0, n)
    frame["province"] = pd.Categorical.from_codes(province, categories=list(PROVINCES))
    frame["true_pd"] = true_pd
    frame["bad_12m"] = (rng.random(n) < true_pd).astype(int)
    return frame
