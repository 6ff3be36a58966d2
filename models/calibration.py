"""Calibrators mapping LightGBM's raw margin (log-odds) to a PD, fitted on the validation part.

Default: **Platt scaling** on the raw margin, ``pd = 1 / (1 + exp(-(a·margin + b)))``.
Why Platt rather than isotonic here:
- it is strictly increasing, so it never ties distinct applicants (isotonic is a step function:
  whole score ranges collapse to one PD and one points score, and AUC can drop);
- two parameters fit stably on a validation part with a few hundred bads; isotonic needs far
  more bads per step and overfits the validation noise;
- LightGBM's log-loss margin is already close to a logit, so the misfit Platt corrects is
  mostly a level shift (vintage drift between the training and validation periods) and a
  slope (over/under-confidence), exactly its two parameters;
- it keeps the points score linear in the margin, so per-feature contributions convert to
  points.
Isotonic (JSON of thresholds, interpolated) is available for large portfolios where the
margin's shape is clearly not logistic. Both serialise to small JSON, never pickle.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from models.errors import ConfigError

_EPS = 1e-6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


class PlattCalibrator:
    """``pd = sigmoid(a·margin + b)``; fitted by Newton's method on the log-loss."""

    kind = "platt"

    def __init__(self, a: float = 1.0, b: float = 0.0):
        self.a, self.b = float(a), float(b)

    def fit(self, margin: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        """``margin``: raw scores, shape (n,); ``y``: 0/1 labels, shape (n,)."""
        X = np.column_stack([np.asarray(margin, float), np.ones(len(margin))])
        y = np.asarray(y, float)
        w = np.array([1.0, 0.0])
        for _ in range(50):
            p = _sigmoid(X @ w)
            grad = X.T @ (p - y)
            hess = (X * (p * (1 - p))[:, None]).T @ X + 1e-9 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-10:
                break
        self.a, self.b = float(w[0]), float(w[1])
        return self

    def logit(self, margin: np.ndarray | float) -> np.ndarray | float:
        """Calibrated log-odds of bad."""
        return self.a * margin + self.b

    def predict(self, margin: np.ndarray) -> np.ndarray:
        return _sigmoid(self.logit(np.asarray(margin, float)))

    def predict_one(self, margin: float) -> float:
        z = max(min(self.a * margin + self.b, 40.0), -40.0)
        return 1.0 / (1.0 + math.exp(-z))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "a": self.a, "b": self.b}


class IsotonicCalibrator:
    """Non-decreasing step map margin → PD (sklearn's isotonic regression), stored as its
    thresholds and evaluated with linear interpolation between them."""

    kind = "isotonic"

    def __init__(self, x: list[float] | None = None, y: list[float] | None = None):
        self.x = np.asarray(x if x is not None else [0.0], float)
        self.y = np.asarray(y if y is not None else [0.5], float)

    def fit(self, margin: np.ndarray, y: np.ndarray) -> IsotonicCalibrator:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=_EPS, y_max=1 - _EPS, out_of_bounds="clip")
        iso.fit(np.asarray(margin, float), np.asarray(y, float))
        self.x, self.y = iso.X_thresholds_.astype(float), iso.y_thresholds_.astype(float)
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        return np.clip(np.interp(np.asarray(margin, float), self.x, self.y), _EPS, 1 - _EPS)

    def predict_one(self, margin: float) -> float:
        return float(self.predict(np.array([margin]))[0])

    def logit(self, margin: np.ndarray | float) -> np.ndarray | float:
        p = self.predict(np.atleast_1d(margin))
        z = np.log(p / (1 - p))
        return z if np.ndim(margin) else float(z[0])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": self.x.tolist(), "y": self.y.tolist()}


Calibrator = PlattCalibrator | IsotonicCalibrator
KINDS = {"platt": PlattCalibrator, "isotonic": IsotonicCalibrator}


def make_calibrator(kind: str) -> Calibrator:
    if kind not in KINDS:
        raise ConfigError(f"calibration must be one of {sorted(KINDS)}, not {kind!r}")
    return KINDS[kind]()


def calibrator_from_dict(d: dict[str, Any]) -> Calibrator:
    """Inverse of ``to_dict``; raises KeyError/ValueError on malformed input."""
    if d["kind"] == "platt":
        return PlattCalibrator(d["a"], d["b"])
    if d["kind"] == "isotonic":
        return IsotonicCalibrator(d["x"], d["y"])
    raise ValueError(f"unknown calibrator kind {d['kind']!r}")
