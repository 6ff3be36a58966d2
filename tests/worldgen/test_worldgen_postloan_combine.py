"""The post-loan traces combine as in real books (`worldgen/postloan.py`): a hardship that
passes pays late like the road to default but keeps the car at home and takes no new credit;
a stress that deepens travels and borrows from online platforms to pay us."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from chedaitong_sim.worldgen import vocab
from chedaitong_sim.worldgen.world import build

EPOCH = pd.Timestamp(0)


@pytest.fixture(scope="module")
def world():
    w = build(3000, 5)
    truth = pd.DataFrame(w.loan_truth)
    truth.index = [f"LN{i:08d}" for i in range(1, len(truth) + 1)]
    truth["kind"] = np.where(truth["stress_onset"] < 0, "calm",
                             np.where(truth["stress_deepens"], "deepens", "passes"))
    return w, truth


def _day(ts: pd.Series) -> np.ndarray:
    return ((pd.to_datetime(ts) - EPOCH) // pd.Timedelta(days=1)).to_numpy()


def _inside(truth: pd.DataFrame, loan: pd.Series, day: np.ndarray) -> np.ndarray:
    t = truth.loc[loan.to_numpy()]
    return (t["stress_onset"].to_numpy() >= 0) & (day >= t["stress_onset"].to_numpy()) & (
        day < t["stress_end"].to_numpy())


def test_a_passing_hardship_pays_late_too(world):
    """Lateness alone does not tell the two kinds apart (what makes the rest matter)."""
    w, truth = world
    rep = w.tables["repayments"].select(["loan_id", "due_date", "status"]).to_pandas()
    inside = _inside(truth, rep["loan_id"], _day(rep["due_date"]))
    kind = truth.loc[rep["loan_id"], "kind"].to_numpy()
    late = rep["status"].isin(["late", "missed"]).to_numpy()
    share = {k: late[inside & (kind == k)].mean() for k in ("passes", "deepens")}
    assert share["passes"] > 0.3 and share["deepens"] > 0.3
    assert late[kind == "calm"].mean() < 0.15


def test_the_car_stays_home_in_a_passing_hardship_and_travels_when_stress_deepens(world):
    w, truth = world
    parts = []
    for table in w.tables["vehicle_gps"]:
        parts.append(table.select(["loan_id", "event_time", "province"]).to_pandas())
    g = pd.concat(parts, ignore_index=True)
    home = g.groupby("loan_id")["province"].agg(lambda s: s.mode().iloc[0])
    away = (g["province"] != home.loc[g["loan_id"]].to_numpy()).to_numpy()
    inside = _inside(truth, g["loan_id"], _day(g["event_time"]))
    kind = truth.loc[g["loan_id"], "kind"].to_numpy()
    calm = away[kind == "calm"].mean()
    passes = away[inside & (kind == "passes")].mean()
    deepens = away[inside & (kind == "deepens")].mean()
    assert (inside & (kind == "passes")).sum() > 2_000
    assert passes < 2 * calm + 0.01  # as any month at home
    assert deepens > 5 * passes


def test_new_loans_elsewhere_come_with_a_deepening_stress_not_a_passing_one(world):
    """Stacking (以贷养贷): new platform loans opened inside the window, seen in the refreshed
    bureau reports; outside a stress borrowers open new credit too, so a new loan alone is
    not the label."""
    w, truth = world
    reports = pd.concat([t.to_pandas() for t in w.tables["bureau_pboc"]], ignore_index=True)
    reports = reports[reports["loan_id"].notna()]
    latest = reports.sort_values("reported_at").groupby("loan_id").tail(1)
    platforms = set(vocab.LENDING_PLATFORMS)
    rows = []
    for loan_id, doc in zip(latest["loan_id"], latest["report_json"], strict=True):
        for acc in json.loads(doc)["loans"]:
            rows.append((loan_id, acc["institution"] in platforms, acc["opened_on"]))
    acc = pd.DataFrame(rows, columns=["loan_id", "platform", "opened_on"])
    acc["inside"] = _inside(truth, acc["loan_id"], _day(acc["opened_on"]))
    loans = latest["loan_id"]
    kind = truth.loc[loans, "kind"]
    stacked = acc[acc["inside"] & acc["platform"]].groupby("loan_id").size()
    has = loans.map(stacked).fillna(0).gt(0).to_numpy()
    share = {k: has[(kind == k).to_numpy()].mean() for k in ("passes", "deepens")}
    assert (kind == "deepens").sum() > 50 and (kind == "passes").sum() > 100
    assert share["deepens"] > 0.4
    assert share["passes"] < 0.05
    loans_df = w.tables["loans"].select(["loan_id", "disbursed_at"]).to_pandas()
    opened_after = acc.merge(loans_df, on="loan_id")
    opened_after = opened_after[pd.to_datetime(opened_after["opened_on"])
                                > opened_after["disbursed_at"]]
    calm_new = opened_after[truth.loc[opened_after["loan_id"], "kind"].to_numpy() == "calm"]
    assert calm_new["loan_id"].nunique() > 0.1 * (kind == "calm").sum()
