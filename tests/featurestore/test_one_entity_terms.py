"""The decision path computes one application's terms on plain values (no frame); the batch
path on frames. Same inputs, same features — on many generated applications."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from featurestore import compute
from featurestore.definitions import catalog
from featurestore.store import vector_from_row


def _applications(n: int, seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    cats = {f: [None, *catalog()[f].categories, "not-a-category"]
            for f in compute.PROFILE_CATEGORIES}
    rows = []
    for i in range(n):
        as_of = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=int(rng.integers(0, 10**6)))
        born = as_of.date().replace(year=as_of.year - int(rng.integers(18, 70)))
        if i % 7 == 0:  # the birthday is the decision day, or the day after
            born = born + timedelta(days=int(rng.integers(0, 2)))
        price = float(rng.integers(50_000, 600_000))
        down = float(rng.integers(0, int(price * 0.5)))
        rows.append({
            "entity_id": f"A{i}", "customer_id": str(i), "as_of": as_of, "birth_date": born,
            "monthly_income": None if i % 11 == 0 else float(rng.integers(0, 60_000)),
            "vehicle_price": price, "down_payment": down,
            "loan_amount": float(rng.integers(1, int(price - down) + 1)),
            "term_months": int(rng.choice([12, 24, 36, 48, 60])),
            "lease_type": str(rng.choice(["direct", "sale_leaseback", "other"])),
            "dealer_channel": str(rng.choice(["4s", "used", "online"])),
            "home_lat": float(rng.uniform(20, 45)), "home_lon": float(rng.uniform(100, 125)),
            "dealer_lat": float("nan") if i % 13 == 0 else float(rng.uniform(20, 45)),
            "dealer_lon": float(rng.uniform(100, 125)),
            **{f: cats[f][int(rng.integers(0, len(cats[f])))] for f in cats},
        })
    return rows


def test_one_application_on_plain_values_equals_the_frame_path():
    cat = catalog()
    rows = _applications(400)
    frame = compute.application_terms(
        pd.DataFrame([{**r, "birth_date": pd.Timestamp(r["birth_date"])} for r in rows]), cat)
    for i, row in enumerate(rows):
        batch = vector_from_row(frame.iloc[i], cat)
        one = vector_from_row(compute.application_term_values(row), cat)
        assert one == {k: v for k, v in batch.items() if k in one}, row
        assert set(batch) - set(one) <= {"entity_id", "as_of"}


def test_a_naive_as_of_is_utc_as_in_frames():
    row = _applications(1)[0]
    naive = {**row, "as_of": row["as_of"].replace(tzinfo=None)}
    assert compute.application_term_values(naive)["age_at_application"] == \
        compute.application_term_values(row)["age_at_application"]
    assert isinstance(row["birth_date"], date)
