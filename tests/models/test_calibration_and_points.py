"""Calibration improves held-out ECE; calibrators round-trip through JSON; points and grades."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from models.calibration import (
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_dict,
    make_calibrator,
)
from models.errors import ConfigError
from models.evaluate import ece
from models.scorecard import Scorecard


def test_calibration_improves_ece_on_out_of_time_data(trained):
    oot = trained[2].metrics["oot"]
    # the frame's risk drifts up over time: the raw model (fit on the oldest part)
    # under-predicts later periods; the calibrator, fit on validation, corrects the level
    assert oot["ece"] < oot["ece_uncalibrated"]


def test_platt_recovers_known_parameters():
    rng = np.random.default_rng(1)
    m = rng.normal(-3, 1.2, 200_000)
    y = (rng.random(len(m)) < 1 / (1 + np.exp(-(0.7 * m - 0.5)))).astype(float)
    cal = PlattCalibrator().fit(m, y)
    assert cal.a == pytest.approx(0.7, abs=0.03) and cal.b == pytest.approx(-0.5, abs=0.1)
    raw = 1 / (1 + np.exp(-m))
    assert ece(y, cal.predict(m)) < ece(y, raw) / 3


@pytest.mark.parametrize("kind", ["platt", "isotonic"])
def test_calibrators_round_trip_as_json(kind):
    rng = np.random.default_rng(2)
    m = rng.normal(-3, 1, 5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-m))).astype(float)
    cal = make_calibrator(kind).fit(m, y)
    back = calibrator_from_dict(json.loads(json.dumps(cal.to_dict())))
    grid = np.linspace(-8, 2, 101)
    np.testing.assert_allclose(back.predict(grid), cal.predict(grid))
    assert np.all(np.diff(back.predict(grid)) >= 0)  # monotone in the margin
    assert back.predict_one(-3.0) == pytest.approx(float(cal.predict(np.array([-3.0]))[0]))
    if kind == "isotonic":
        assert isinstance(back, IsotonicCalibrator)


def test_unknown_calibration_is_refused():
    with pytest.raises(ConfigError):
        make_calibrator("beta")


def test_points_scale_is_600_at_50_to_1_and_20_to_double():
    sc = Scorecard()
    pd_at = {odds: 1 / (1 + odds) for odds in (50, 100, 25)}
    pts = sc.points(np.array([pd_at[50], pd_at[100], pd_at[25]]))
    assert pts.tolist() == [600, 620, 580]
    assert sc.points_one(math.log(1 / 50)) == 600
    assert sc.points(np.array([1e-12, 1 - 1e-12])).tolist() == [900, 300]


def test_grade_bands():
    sc = Scorecard()
    scores = np.array([900, 620, 619, 593, 592, 572, 571, 551, 550, 300])
    assert sc.grades(scores).tolist() == list("AABBCCDDEE")
    assert [sc.grade_one(int(s)) for s in scores] == list("AABBCCDDEE")
    # PD anchors: grade A is PD below ~1 %, E is PD of 10 % and above
    assert sc.grades(sc.points(np.array([0.0099, 0.101]))).tolist() == ["A", "E"]
    back = Scorecard.from_dict(json.loads(json.dumps(sc.to_dict())))
    assert back == sc
    bad = sc.to_dict()
    bad["bands"][1]["min_score"] = 700
    with pytest.raises(ValueError):
        Scorecard.from_dict(bad)
