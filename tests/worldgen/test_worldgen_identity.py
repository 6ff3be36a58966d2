"""Resident IDs are valid GB 11643 numbers consistent with the profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chedaitong_sim.worldgen import identity


def test_check_character_known_example():
    # the textbook example from GB 11643-1999
    assert identity.check_char("11010519491231002") == "X"
    assert identity.is_valid("11010519491231002X")
    assert not identity.is_valid("110105194912310021")
    assert not identity.is_valid("11010519491231002")


@pytest.mark.parametrize("bad", ["1101051949123100X2", "A1010519491231002X", ""])
def test_invalid_ids_rejected(bad):
    assert not identity.is_valid(bad)


def test_every_id_valid_and_consistent(small_world):
    c = small_world["customers"]
    ids = c["id_number"]
    assert ids.map(identity.is_valid).all()
    assert ids.is_unique
    birth = pd.to_datetime(ids.str[6:14], format="%Y%m%d")
    assert (birth.dt.date == pd.to_datetime(c["birth_date"]).dt.date).all()
    male = ids.str[16].astype(int) % 2 == 1
    assert ((c["gender"] == "M") == male).all()
    assert (ids.str[:6] == c["id_region_code"]).all()


def test_ages_plausible(small_world):
    c = small_world["customers"]
    apps = small_world["applications"].merge(c[["customer_id", "birth_date"]], on="customer_id")
    age = (apps["applied_at"] - pd.to_datetime(apps["birth_date"])).dt.days / 365.25
    assert age.between(19.5, 63).all()


def test_identity_check_rows(small_world):
    ic = small_world["identity_checks"]
    assert set(ic["check_type"]) == {"id_card", "liveness", "bank_card_4e"}
    assert set(ic["result"]) <= {"pass", "fail"}
    live = ic[ic["check_type"] == "liveness"]
    assert live["score"].between(0, 1).all()
    assert ((live["score"] >= 0.7) == (live["result"] == "pass")).all()
    assert ic.loc[ic["check_type"] != "liveness", "score"].isna().all()
    assert (ic["responded_at"] >= ic["requested_at"]).all()
    # every customer has each registration check at least once
    per = ic.groupby("customer_id")["check_type"].nunique()
    assert (per == 3).all() and len(per) == len(small_world["customers"])
    # a signing liveness check exists for every booked application
    apps = small_world["applications"]
    signed = set(ic["application_id"].dropna())
    assert set(apps.loc[apps["booked"], "application_id"]) <= signed
    assert np.isin(list(signed), apps["application_id"]).all()
