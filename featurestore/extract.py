"""Raw records → sanitised facts, vectorised; used for one API upload and for a whole world.

Each extractor takes a frame in the canonical raw layout of its source (documented on the
function) and returns facts (`featurestore.facts.FACT_COLUMNS`). Identifiers that facts need
for counting distinct things (a lending platform, a device, an inquiry) go through the keyed
blind index, so equal inputs give equal keys without the input being recoverable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from featurestore import sms as sms_rules
from featurestore.compute import haversine_km
from featurestore.facts import FACT_COLUMNS, empty_facts, normalise_facts

Digest = Callable[[str], str]


def facts_frame(
    customer_id, source: str, kind, event_time, uploaded_at, value=np.nan, key=None
) -> pd.DataFrame:
    n = len(customer_id)
    frame = pd.DataFrame(
        {
            "customer_id": np.asarray(customer_id),
            "source": source,
            "kind": kind if not isinstance(kind, str) else [kind] * n,
            "event_time": np.asarray(event_time),
            "uploaded_at": np.asarray(uploaded_at),
            "value": value,
            "key": key if key is not None else [None] * n,
        }
    )
    return normalise_facts(frame) if n else empty_facts()


def digest_all(values: pd.Series, digest: Digest) -> pd.Series:
    """Digest each distinct value once (platform and device names repeat a lot)."""
    present = values.dropna().astype(str)
    mapping = {v: digest(v) for v in present.unique()}
    return values.map(mapping).astype("string")


def _upload_markers(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    batches = raw[["customer_id", "uploaded_at"]].drop_duplicates()
    return facts_frame(
        batches["customer_id"], source, "upload", batches["uploaded_at"], batches["uploaded_at"]
    )


def sms_facts(raw: pd.DataFrame, digest: Digest) -> pd.DataFrame:
    """raw: customer_id, event_time, uploaded_at, sender, text."""
    kind, lender = sms_rules.classify(raw["text"])
    hit = kind.notna().to_numpy()
    risky = raw[hit]
    facts = facts_frame(
        risky["customer_id"],
        "sms",
        kind[hit].to_numpy(dtype=object),
        risky["event_time"],
        risky["uploaded_at"],
        key=digest_all(lender[hit], digest).to_numpy(dtype=object),
    )
    return pd.concat([_upload_markers(raw, "sms"), facts], ignore_index=True)


def contact_facts(raw: pd.DataFrame) -> pd.DataFrame:
    """raw: customer_id, uploaded_at, phone, tag (blacklist | loan_company | None)."""
    flagged = raw[raw["tag"].isin(["blacklist", "loan_company"])]
    facts = facts_frame(
        flagged["customer_id"],
        "contact",
        flagged["tag"].to_numpy(dtype=object),
        flagged["uploaded_at"],
        flagged["uploaded_at"],
    )
    return pd.concat([_upload_markers(raw, "contact"), facts], ignore_index=True)


def located_facts(raw: pd.DataFrame, homes: pd.DataFrame, source: str, kind: str) -> pd.DataFrame:
    """raw: customer_id, event_time, uploaded_at, lat, lon; homes: customer_id, home_lat,
    home_lon. The coordinate is reduced to its distance from the declared home."""
    m = raw.merge(homes, on="customer_id", how="inner")
    km = haversine_km(m["lat"], m["lon"], m["home_lat"], m["home_lon"])
    return facts_frame(
        m["customer_id"], source, kind, m["event_time"], m["uploaded_at"], value=np.round(km, 3)
    )


def device_facts(customers: pd.DataFrame, digest: Digest) -> pd.DataFrame:
    """customers: customer_id, device_id, registered_at."""
    return facts_frame(
        customers["customer_id"],
        "device",
        "registration",
        customers["registered_at"],
        customers["registered_at"],
        key=digest_all(customers["device_id"], digest).to_numpy(dtype=object),
    )


def identity_facts(raw: pd.DataFrame) -> pd.DataFrame:
    """raw: customer_id, check_type (id_card | liveness | four_element), passed, score,
    checked_at. Liveness keeps its score as value and the verdict as key."""
    is_live = raw["check_type"] == "liveness"
    passed = raw["passed"].astype(bool)
    value = np.where(is_live, raw["score"].astype("float64"), passed.astype("float64"))
    key = np.where(is_live, np.where(passed, "pass", "fail"), None)
    return facts_frame(
        raw["customer_id"],
        "identity",
        raw["check_type"].to_numpy(dtype=object),
        raw["checked_at"],
        raw["checked_at"],
        value=value,
        key=key,
    )


def vehicle_gps_facts(raw: pd.DataFrame) -> pd.DataFrame:
    """raw: customer_id, event_time, uploaded_at, province, home_province."""
    outside = (raw["province"] != raw["home_province"]).astype("float64")
    return facts_frame(
        raw["customer_id"],
        "vehicle_gps",
        "fix",
        raw["event_time"],
        raw["uploaded_at"],
        value=outside.to_numpy(),
    )


def app_event_facts(raw: pd.DataFrame) -> pd.DataFrame:
    """raw: customer_id, event_time, uploaded_at, event (install | uninstall)."""
    return facts_frame(
        raw["customer_id"],
        "app",
        raw["event"].to_numpy(dtype=object),
        raw["event_time"],
        raw["uploaded_at"],
    )


def concat_facts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_facts()
    out = pd.concat(parts, ignore_index=True)[FACT_COLUMNS]
    return out.sort_values(
        ["customer_id", "source", "event_time", "kind"], kind="stable"
    ).reset_index(drop=True)
