"""The sanitised fact schema: the only thing feature computation reads.

Ingest turns every raw record (an SMS, a contact, a GPS ping, a photo's EXIF position, a
vendor report) into zero or more *facts*: a source, a kind, when it happened, when it reached
us, and one number and/or one keyed digest. A fact never carries SMS text, a phone number, a
coordinate or an identifier in clear, so whatever reads facts cannot leak them.

The same frame layout is used online (rows read from the `feature_facts` table for one
customer) and offline (Parquet for a whole world), so one function computes features for both.
"""

from __future__ import annotations

import pandas as pd

FACT_COLUMNS = ["customer_id", "source", "kind", "event_time", "uploaded_at", "value", "key"]

# source → kinds it may carry, and what `value` / `key` mean for them.
FACT_KINDS: dict[str, dict[str, str]] = {
    "sms": {
        "upload": "an SMS upload batch arrived (even an empty one): SMS data exists",
        "collection": "collection / overdue notice; key = lending platform digest",
        "lending": "other lending platform marketing or loan notice; key = platform digest",
        "credit_card": "credit-card bill or overdue notice",
    },
    "contact": {
        "upload": "a contacts upload arrived: contact data exists",
        "blacklist": "a contact on the lending blacklist",
        "loan_company": "a contact belonging to a loan company",
    },
    "gps": {"ping": "app-start position; value = km from the declared home"},
    "photo": {"photo": "geotagged album photo; value = km from the declared home"},
    "device": {"registration": "customer registered from a device; key = device digest"},
    "identity": {
        "id_card": "ID-card check; value 1 verified / 0 not",
        "liveness": "liveness check; value = score, key = 'pass' | 'fail'",
        "four_element": "bank-card four-element check; value 1 match / 0 mismatch",
    },
    "pboc": {
        "report": "a PBOC report was received (value 1)",
        "inquiry": "lender inquiry on its date; key = digest of (institution, date)",
        "overdue_amount": "amount currently overdue at report time (CNY)",
        "own_overdue_amount": "of that, the lender's own (institution = bureau.OWN_INSTITUTION)",
        "card_limit": "total credit-card limit (CNY)",
        "card_balance": "total credit-card balance (CNY)",
        "open_loans": "loans open at report time",
        "own_open_loans": "of those, the lender's own (institution = bureau.OWN_INSTITUTION)",
        "oldest_account": "opening date of the oldest account (value = days since epoch)",
        "worst_status_24m": "worst monthly status over 24 months (0..7)",
    },
    "thirdparty": {
        "score": "third-party score",
        "blacklist": "1 when listed on the third-party lending blacklist",
        "multi_lending": "platforms applied to in 6 months",
    },
    "vehicle_gps": {"fix": "vehicle GPS fix; value 1 when outside the home province"},
    "app": {"install": "app (re)installed", "uninstall": "app uninstalled"},
    "collections": {
        "promise_to_pay": "a collector recorded a promise to pay; value = the promised date "
                          "(days since epoch)",
    },
}


def empty_facts() -> pd.DataFrame:
    """A zero-row facts frame with the canonical dtypes."""
    return normalise_facts(pd.DataFrame(columns=FACT_COLUMNS))


def normalise_facts(facts: pd.DataFrame) -> pd.DataFrame:
    """Canonical column order and dtypes: UTC timestamps, float values, and the four text
    columns as categoricals — a world has tens of millions of facts over a few thousand
    distinct strings, so codes (not one Python string per cell) keep it in memory."""
    out = facts.loc[:, FACT_COLUMNS].copy()
    for col in ("customer_id", "source", "kind", "key"):
        values = out[col]
        if not isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object).where(values.notna(), None).astype("category")
        out[col] = values
    for col in ("event_time", "uploaded_at"):
        out[col] = to_utc(out[col])
    out["value"] = pd.to_numeric(out["value"], errors="raise").astype("float64")
    return out.reset_index(drop=True)


def to_utc(values: pd.Series) -> pd.Series:
    """Timestamps as timezone-aware UTC at microsecond resolution (naive input is taken as UTC)."""
    ts = pd.to_datetime(values)
    ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    return ts.astype("datetime64[us, UTC]")
