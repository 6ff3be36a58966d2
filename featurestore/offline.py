"""The offline store: a world's raw tables reduced once to facts, then historical frames.

`build_offline_store` runs the same extractors ingest uses on every raw table of a world
(`worldgen` layout, see data/README.md) and writes `facts.parquet` plus the entity tables
training and the nightly job need. `historical_applications` / `historical_loans` then compute
point-in-time-correct frames from those files with `featurestore.compute` — the code online
serving uses.

World timestamps are China Standard Time without a zone; they are made UTC here, once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from featurestore import compute, extract
from featurestore.bureau import pboc_facts, thirdparty_facts
from featurestore.definitions import FeatureCatalog
from featurestore.extract import Digest
from featurestore.facts import normalise_facts, to_utc

WORLD_TIMEZONE = "Asia/Shanghai"
CHECK_TYPES = {"id_card": "id_card", "liveness": "liveness", "bank_card_4e": "four_element"}
# Columns that carry the truth or segments: kept beside features for evaluation, never inputs.
LABEL_COLUMNS = ["bad_12m", "true_pd", "fraud_ring", "booked", "province"]


def read_world_table(world: Path, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    frame = pd.read_parquet(world / f"{table}.parquet", columns=columns)
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]) or col in ("due_date", "birth_date"):
            local = pd.to_datetime(frame[col])
            frame[col] = (
                to_utc(local.dt.tz_localize(WORLD_TIMEZONE))
                if local.dt.tz is None
                else to_utc(local)
            )
        elif (
            frame[col].dtype == object
            and len(frame)
            and hasattr(frame[col].iloc[0], "as_integer_ratio")
        ):
            frame[col] = frame[col].astype("float64")  # decimal128 money → float for ratios
    return frame


def world_facts(world: Path, digest: Digest) -> pd.DataFrame:
    """Every raw table of a world reduced to facts (the same extractors as online ingest)."""
    customers = read_world_table(
        world,
        "customers",
        ["customer_id", "device_id", "registered_at", "home_lat", "home_lon", "home_province"],
    )
    homes = customers[["customer_id", "home_lat", "home_lon"]]
    sms = read_world_table(
        world, "device_sms", ["customer_id", "event_time", "uploaded_at", "sender", "body"]
    ).rename(columns={"body": "text"})
    contacts = read_world_table(
        world, "device_contacts", ["customer_id", "uploaded_at", "phone", "flag"]
    )
    checks = read_world_table(
        world, "identity_checks", ["customer_id", "check_type", "result", "score", "responded_at"]
    )
    checks = checks.assign(
        check_type=checks["check_type"].map(CHECK_TYPES),
        passed=checks["result"] == "pass",
        checked_at=checks["responded_at"],
    )
    loans = read_world_table(world, "loans", ["loan_id", "customer_id"])
    vgps = read_world_table(
        world, "vehicle_gps", ["loan_id", "event_time", "uploaded_at", "province"]
    )
    vgps = vgps.merge(loans, on="loan_id").merge(
        customers[["customer_id", "home_province"]], on="customer_id"
    )
    app = read_world_table(
        world, "app_events", ["customer_id", "event_type", "event_time", "uploaded_at"]
    )
    app = app.assign(event=app["event_type"].replace({"reinstall": "install"}))
    pboc = read_world_table(world, "bureau_pboc", ["customer_id", "reported_at", "report_json"])
    third = read_world_table(
        world, "bureau_thirdparty", ["customer_id", "reported_at", "report_json"]
    )
    return extract.concat_facts(
        [
            extract.sms_facts(sms, digest),
            extract.contact_facts(contacts.rename(columns={"flag": "tag"})),
            extract.located_facts(
                read_world_table(
                    world, "device_gps", ["customer_id", "event_time", "uploaded_at", "lat", "lon"]
                ),
                homes,
                "gps",
                "ping",
            ),
            extract.located_facts(
                read_world_table(
                    world,
                    "device_photos",
                    ["customer_id", "event_time", "uploaded_at", "lat", "lon"],
                ),
                homes,
                "photo",
                "photo",
            ),
            extract.device_facts(customers, digest),
            extract.identity_facts(checks),
            extract.vehicle_gps_facts(vgps),
            extract.app_event_facts(app),
            pboc_facts(pboc, digest),
            thirdparty_facts(third, digest),
        ]
    )


def application_entities(world: Path) -> pd.DataFrame:
    """One row per application at its `applied_at`, with fields, segments and the truth."""
    apps = read_world_table(world, "applications")
    customers = read_world_table(
        world,
        "customers",
        [
            "customer_id",
            "birth_date",
            "monthly_income",
            "home_lat",
            "home_lon",
            "home_province",
            *compute.PROFILE_CATEGORIES,
        ],
    )
    dealers = read_world_table(world, "dealers", ["dealer_id", "lat", "lon"]).rename(
        columns={"lat": "dealer_lat", "lon": "dealer_lon"}
    )
    e = apps.merge(customers, on="customer_id").merge(dealers, on="dealer_id")
    # The decision is taken once both bureau reports are in (minutes after filing): that is
    # the moment whose knowledge a training row must reproduce.
    reports = pd.concat(
        [
            read_world_table(world, t, ["application_id", "reported_at"])
            for t in ("bureau_pboc", "bureau_thirdparty")
        ]
    )
    ready = reports.dropna().groupby("application_id")["reported_at"].max()
    decided_at = e["application_id"].map(ready).fillna(e["applied_at"])
    e = e.assign(
        entity_id=e["application_id"],
        as_of=decided_at.where(decided_at > e["applied_at"], e["applied_at"]),
        down_payment=e["deposit_or_down_payment"],
        dealer_channel=e["channel"],
        province=e["home_province"],
        home_to_dealer_km=compute.haversine_km(
            e["home_lat"], e["home_lon"], e["dealer_lat"], e["dealer_lon"]
        ),
    )
    # The offline store keeps what features need, not where people live.
    e = e.drop(columns=["home_lat", "home_lon", "dealer_lat", "dealer_lon"])
    return e.sort_values("application_id", kind="stable").reset_index(drop=True)


def installments(world: Path) -> pd.DataFrame:
    """Scheduled installments with the time each was settled in full (NaT while unpaid), the
    amount due and a part-payment before that (cents and time; 0 / NaT when none)."""
    rep = read_world_table(
        world, "repayments", ["loan_id", "due_date", "paid_at", "amount_due", "amount_paid"]
    )
    settled = rep["paid_at"].where(rep["amount_paid"] >= rep["amount_due"])
    out = pd.DataFrame(
        {"loan_id": rep["loan_id"], "due_date": rep["due_date"], "settled_at": settled,
         "amount_due": _to_cents(rep["amount_due"])}
    )
    try:
        part = read_world_table(world, "repayments", ["partial_paid_at", "partial_amount"])
    except (KeyError, ValueError):  # a world from before partial payments
        return out
    out["part_paid"] = _to_cents(part["partial_amount"])
    out["part_paid_at"] = part["partial_paid_at"].where(out["part_paid"] > 0)
    return out


def _to_cents(amount: pd.Series) -> np.ndarray:
    return np.round(pd.to_numeric(amount).to_numpy(dtype="float64") * 100).astype(np.int64)


def build_offline_store(world: Path, out: Path, digest: Digest) -> dict[str, int]:
    """Write facts, application entities, loans and installments under ``out`` atomically
    (built beside it, then renamed; missing parent folders are created)."""
    world, out = Path(world), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".offline-", dir=out.parent))
    try:
        facts = world_facts(world, digest)
        facts.to_parquet(tmp / "facts.parquet", index=False)
        apps = application_entities(world)
        apps.to_parquet(tmp / "applications.parquet", index=False)
        loans = read_world_table(
            world, "loans", ["loan_id", "customer_id", "application_id", "disbursed_at"]
        )
        loans.to_parquet(tmp / "loans.parquet", index=False)
        installments(world).to_parquet(tmp / "installments.parquet", index=False)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"facts": len(facts), "applications": len(apps), "loans": len(loans)}


def load_facts(store: Path) -> pd.DataFrame:
    """The store's facts; text columns are read straight into categoricals (no per-cell
    Python strings for tens of millions of rows)."""
    text = ["customer_id", "source", "kind", "key"]
    return normalise_facts(pd.read_parquet(Path(store) / "facts.parquet",
                                           read_dictionary=text))


def historical_applications(
    store: Path,
    entities: pd.DataFrame | None = None,
    cat: FeatureCatalog | None = None,
    facts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Point-in-time application features, plus `applied_at`, segments and truth columns.

    ``entities`` defaults to every application of the store at its `applied_at`; pass a
    subset or other `as_of` times (backtests, "what would we have known then").
    """
    store = Path(store)
    e = entities if entities is not None else pd.read_parquet(store / "applications.parquet")
    f = facts if facts is not None else load_facts(store)
    frame = compute.application_features(e, f, cat)
    extras = [c for c in ["applied_at", "customer_id", *LABEL_COLUMNS] if c in e.columns]
    return pd.concat([frame, e[extras].reset_index(drop=True)], axis=1)


def historical_loans(
    store: Path,
    as_of: pd.Timestamp,
    loans: pd.DataFrame | None = None,
    cat: FeatureCatalog | None = None,
    facts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Post-loan features of every loan disbursed by ``as_of``, at ``as_of``."""
    store = Path(store)
    loans = loans if loans is not None else pd.read_parquet(store / "loans.parquet")
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    active = loans[loans["disbursed_at"] <= as_of]
    e = active.assign(entity_id=active["loan_id"], as_of=as_of)
    f = facts if facts is not None else load_facts(store)
    inst = pd.read_parquet(store / "installments.parquet")
    return compute.loan_features(e, f, inst, cat)
