"""The post-loan traces combine as in real books (`worldgen/postloan.py`): a hardship that
passes keeps paying part and keeps the tracker in sight; a stress that deepens goes dark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from chedaitong_sim.worldgen.timeutil import DAY
from chedaitong_sim.worldgen.world import build


@pytest.fixture(scope="module")
def world():
    w = build(3000, 5)
    truth = pd.DataFrame(w.loan_truth)
    truth.index = [f"LN{i:08d}" for i in range(1, len(truth) + 1)]
    return w, truth


def _phase(truth: pd.DataFrame, loan: pd.Series, day: np.ndarray) -> pd.Series:
    """'passing' inside a hardship that passes, 'dark' in a deepening stress's dark phase,
    'calm' outside any window, '' elsewhere."""
    t = truth.loc[loan.to_numpy()]
    onset, end, dark = (t[c].to_numpy() for c in ("stress_onset", "stress_end",
                                                   "stress_dark_from"))
    inside = (onset >= 0) & (day >= onset) & (day < end)
    deep = t["stress_deepens"].to_numpy(bool)
    out = np.where(inside & ~deep, "passing",
                   np.where(inside & deep & (day >= dark), "dark", np.where(inside, "", "calm")))
    return pd.Series(out, index=loan.index)


def test_passing_hardships_keep_paying_part_and_deepening_stress_stops(world):
    w, truth = world
    rep = w.tables["repayments"].select(["loan_id", "due_date", "partial_paid_at"]).to_pandas()
    day = (pd.to_datetime(rep["due_date"]) - pd.Timestamp(0)).dt.days.to_numpy()
    phase = _phase(truth, rep["loan_id"], day)
    part = rep["partial_paid_at"].notna()
    share = part.groupby(phase).mean()
    counts = phase.value_counts()
    assert counts["passing"] > 200 and counts["dark"] > 50
    assert share["passing"] > 5 * share["dark"]
    assert share["dark"] < 0.08 and share["calm"] < 0.03


def test_the_tracker_stays_in_sight_in_a_passing_hardship_and_goes_dark_before_default(world):
    w, truth = world
    days = []
    for table in w.tables["vehicle_gps"]:
        assert isinstance(table, pa.Table)
        g = table.select(["loan_id", "event_time"]).to_pandas()
        g["day"] = (g["event_time"] - pd.Timestamp(0)) // pd.Timedelta(days=1)
        days.append(g[["loan_id", "day"]].drop_duplicates())
    fixes = pd.concat(days, ignore_index=True)
    fixes["phase"] = _phase(truth, fixes["loan_id"], fixes["day"].to_numpy())
    # loan-days in each phase (the grid the fixes fall on), from the truth windows
    cutoff = pd.Timestamp("2025-07-01").value // 10**9 // DAY
    t = truth[truth["stress_onset"] >= 0]
    deep = t["stress_deepens"].astype(bool)
    start = np.where(deep, t["stress_dark_from"], t["stress_onset"])
    length = (np.minimum(t["stress_end"], cutoff) - start).clip(lower=0)
    grid = {"passing": length[~deep].sum(), "dark": length[deep].sum()}
    rate = {k: (fixes["phase"] == k).sum() / grid[k] for k in grid}
    assert rate["passing"] > 0.25  # about the ordinary 35% of days the car is driven
    assert rate["dark"] < 0.6 * rate["passing"]
