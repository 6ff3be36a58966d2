"""Bad rate, oracle AUC and drift are in the documented ranges."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from chedaitong_sim import worldgen


def test_bad_rate_and_oracle_auc(medium_world):
    apps = medium_world["applications"]
    assert 0.03 <= worldgen.bad_rate(apps) <= 0.08
    auc = worldgen.oracle_auc(apps)
    assert 0.78 <= auc <= 0.93
    assert medium_world.manifest["oracle_auc"] == pytest.approx(auc, abs=1e-4)
    booked = apps[apps["booked"]]
    assert booked["bad_12m"].mean() < apps.loc[~apps["booked"], "bad_12m"].mean()


def test_drift_after_new_channel(medium_world):
    apps = medium_world["applications"]
    new = apps["applied_at"] >= pd.Timestamp("2024-11-01")
    assert (apps.loc[~new, "channel"] != "sub_dealer").all()
    assert (apps.loc[new, "channel"] == "sub_dealer").mean() > 0.15
    assert apps.loc[new, "true_pd"].mean() > apps.loc[~new, "true_pd"].mean()
    sub = apps["channel"] == "sub_dealer"
    assert apps.loc[sub, "true_pd"].mean() > 1.3 * apps.loc[~sub, "true_pd"].mean()


def test_oracle_auc_window():
    apps = pd.DataFrame(
        {
            "applied_at": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]),
            "true_pd": [0.1, 0.9, 0.2, 0.3],
            "bad_12m": [0, 1, 1, 0],
        }
    )
    assert worldgen.oracle_auc(apps) == pytest.approx(0.75)
    assert worldgen.oracle_auc(apps, start="2024-01-15") == pytest.approx(0.5)
    assert worldgen.oracle_auc(apps, end="2024-03-01") == pytest.approx(1.0)
    assert math.isnan(worldgen.oracle_auc(apps, start="2024-03-15"))
    assert worldgen.bad_rate(apps, start="2024-02-01", end="2024-04-01") == pytest.approx(1.0)
