"""Write a world to a folder: Parquet tables plus manifest.json, all or nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from chedaitong_sim.worldgen import __version__
from chedaitong_sim.worldgen.evaluation import bad_rate, oracle_auc
from chedaitong_sim.worldgen.timeutil import (
    NEW_CHANNEL_OPEN,
    REFERENCE_DATE,
    WORLD_END,
    WORLD_START,
)
from chedaitong_sim.worldgen.world import build
from chedaitong_sim.worldgen.writer import atomic_dir, sha256, write_parquet

TABLES = [
    "dealers",
    "consultants",
    "customers",
    "identity_checks",
    "device_gps",
    "device_sms",
    "device_photos",
    "device_contacts",
    "bureau_pboc",
    "bureau_thirdparty",
    "applications",
    "loans",
    "repayments",
    "vehicle_gps",
    "app_events",
]


def _r(x: float) -> float | None:
    """Rounded for the manifest; None when undefined (tiny worlds)."""
    return None if x is None or math.isnan(x) else round(float(x), 4)


def summary(apps: pd.DataFrame) -> dict[str, float | None]:
    """Headline ground-truth numbers: overall, before and after the new channel opened."""
    booked = apps[apps["booked"]]
    return {
        "oracle_auc": _r(oracle_auc(apps)),
        "bad_rate": _r(bad_rate(apps)),
        "bad_rate_booked": _r(bad_rate(booked)),
        "booked_rate": _r(float(apps["booked"].mean())),
        "oracle_auc_before_new_channel": _r(oracle_auc(apps, end=NEW_CHANNEL_OPEN)),
        "oracle_auc_after_new_channel": _r(oracle_auc(apps, start=NEW_CHANNEL_OPEN)),
        "bad_rate_before_new_channel": _r(bad_rate(apps, end=NEW_CHANNEL_OPEN)),
        "bad_rate_after_new_channel": _r(bad_rate(apps, start=NEW_CHANNEL_OPEN)),
    }


def generate(out: Path, customers: int, seed: int, overwrite: bool = False) -> dict:
    """Generate and write the world; returns the manifest."""
    world = build(customers, seed)
    out = Path(out)
    rows: dict[str, int] = {}
    hashes: dict[str, str] = {}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for name in TABLES:
            path = tmp / f"{name}.parquet"
            rows[name] = write_parquet(path, world.tables.pop(name))
            hashes[name] = sha256(path)
        apps = world.applications.to_pandas()
        manifest = {
            "generator": "worldgen",
            "generator_version": __version__,
            "seed": seed,
            "sizes": world.sizes,
            "world_start": WORLD_START,
            "world_end_exclusive": WORLD_END,
            "reference_date": REFERENCE_DATE,
            "new_channel_opens": NEW_CHANNEL_OPEN,
            "money": "decimal128(18, 2) CNY",
            "timestamps": "timestamp[ms], naive China Standard Time (UTC+8)",
            "row_counts": rows,
            "sha256": hashes,
            **summary(apps),
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
    return manifest
