"""The model families behind one scoring interface: margins (log-odds of bad) and
per-feature contributions in the same units, for one encoded row or a matrix.

- ``BoosterEngine``: a LightGBM booster; contributions are exact TreeSHAP (precomputed tables
  for single rows; in batch ``models.pathshap``, which is ``pred_contrib`` bit for bit at a
  fraction of its cost, or ``pred_contrib`` itself for a model it does not cover).
- ``WoeEngine``: a WOE logistic scorecard; contributions are coefficient × (WoE − mean WoE),
  the exact SHAP values of a linear model.
- ``BlendEngine``: w · LightGBM margin + (1 − w) · scorecard margin; by linearity its
  contributions are the same blend of the two parts' exact contributions.

All satisfy ``expected_value + contributions(x).sum() == margin(x)``, so reason codes,
points and the reports treat them alike.
"""

from __future__ import annotations

import ctypes
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import lightgbm as lgb

    from models.pathshap import PathShap
    from models.reasons import TreeShap
    from models.woe import WoeScorecard

#: The file each family stores its model in, inside a version folder (a blend stores both
#: parts and its weight).
MODEL_FILES = {"lightgbm": "model.txt", "scorecard": "woe_model.json", "blend": "blend.json"}


class BoosterEngine:
    family = "lightgbm"
    model_file = MODEL_FILES["lightgbm"]

    def __init__(self, booster: lgb.Booster):
        self.booster = booster
        self._explainer: TreeShap | None = None
        self._explainer_failed = False
        self._batch: PathShap | None = None
        self._batch_failed = False
        self._fast = threading.local()  # each thread's `_FastRow` (LightGBM's is not shared)

    @property
    def n_features(self) -> int:
        return int(self.booster.num_feature())

    @property
    def explainer(self) -> TreeShap | None:
        """Precomputed TreeSHAP tables (built on first use, ~0.5 s); None if the model uses a
        split type they do not cover, in which case ``pred_contrib`` is used."""
        if self._explainer is None and not self._explainer_failed:
            from models.reasons import TreeShap, UnsupportedTree

            try:
                self._explainer = TreeShap(self.booster)
            except UnsupportedTree:
                self._explainer_failed = True
        return self._explainer

    @property
    def batch_explainer(self) -> PathShap | None:
        """The batch contributions' tables (built here on first use, ~0.3 s for 57 trees;
        `contributions` uses them once built); None if the model has a split they do not
        cover (categorical, linear trees): then ``pred_contrib``."""
        if self._batch is None and not self._batch_failed:
            from models.pathshap import PathShap, Unsupported

            try:
                self._batch = PathShap(self.booster)
            except Unsupported:
                self._batch_failed = True
        return self._batch

    def margin_one(self, x: np.ndarray) -> float:
        """``x``: shape (1, n_features). Through LightGBM's single-row fast path (its C API's
        ``PredictForMatSingleRowFast``, with a config prepared once per thread): the same
        predictor and the same float as ``booster.predict``, without the ~70 µs its Python
        wrapper spends per call (a decision predicts one row, a re-apply search up to four)."""
        fast = getattr(self._fast, "config", None)
        if fast is None:
            fast = self._fast.config = _FastRow(self.booster)
        return fast.predict(x)

    def margins(self, X: np.ndarray, *, num_threads: int = 2) -> np.ndarray:
        return self.booster.predict(X, raw_score=True, num_threads=num_threads)

    def contributions_one(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float).reshape(-1)
        ex = self.explainer
        if ex is not None:
            return ex.contributions(x)
        return self.booster.predict(x[None, :], pred_contrib=True, num_threads=1)[0, :-1]

    def contributions(self, X: np.ndarray, *, num_threads: int = 2) -> np.ndarray:
        """(rows, n_features) SHAP values: ``pred_contrib``'s own floats (computed by
        `models.pathshap` in numpy, ~3× cheaper, once its tables are built)."""
        ex = self._batch  # once built (`batch_explainer`, `ScoringModel.warm_batch`)
        if ex is not None:
            return ex.contributions(np.asarray(X, dtype=np.float64))
        return self.booster.predict(X, pred_contrib=True, num_threads=num_threads)[:, :-1]

    def gain(self) -> np.ndarray:
        """Total split gain per feature."""
        return self.booster.feature_importance("gain").astype(float)

    def to_text(self) -> str:
        return self.booster.model_to_string()

    @classmethod
    def from_text(cls, text: str) -> BoosterEngine:
        """Raises ValueError for text LightGBM cannot read."""
        import lightgbm as lgb

        try:
            return cls(lgb.Booster(model_str=text))
        except lgb.basic.LightGBMError as exc:
            raise ValueError(str(exc)) from None


class _FastRow:
    """LightGBM's single-row fast prediction of raw scores for one booster and one thread:
    the config (and its output buffer) is prepared once, each call is one C call."""

    def __init__(self, booster: lgb.Booster):
        from lightgbm.basic import _LIB, _c_str, _safe_call

        self._call, self._safe = _LIB.LGBM_BoosterPredictForMatSingleRowFast, _safe_call
        self.booster = booster  # kept alive as long as the config that points into it
        self.config = ctypes.c_void_p()
        self._safe(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle, ctypes.c_int(1), ctypes.c_int(0), ctypes.c_int(-1),  # raw score
            ctypes.c_int(1), ctypes.c_int32(booster.num_feature()),  # float64 columns
            _c_str("num_threads=1"), ctypes.byref(self.config)))
        self._out = np.empty(1)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64(0)
        self._free = _LIB.LGBM_FastConfigFree

    def predict(self, x: np.ndarray) -> float:
        row = np.ascontiguousarray(x, dtype=np.float64)
        self._safe(self._call(self.config, row.ctypes.data_as(ctypes.c_void_p),
                              ctypes.byref(self._out_len), self._out_ptr))
        return float(self._out[0])

    def __del__(self) -> None:
        if self.config:
            self._free(self.config)


class WoeEngine:
    family = "scorecard"
    model_file = MODEL_FILES["scorecard"]
    explainer = None
    batch_explainer = None

    def __init__(self, woe: WoeScorecard):
        self.woe = woe

    @property
    def n_features(self) -> int:
        return len(self.woe.specs)

    def margin_one(self, x: np.ndarray) -> float:
        return float(self.woe.margins(x)[0])

    def margins(self, X: np.ndarray, *, num_threads: int = 2) -> np.ndarray:
        return self.woe.margins(X)

    def contributions_one(self, x: np.ndarray) -> np.ndarray:
        return self.woe.contributions(np.asarray(x, float).reshape(1, -1))[0]

    def contributions(self, X: np.ndarray, *, num_threads: int = 2) -> np.ndarray:
        return self.woe.contributions(X)

    def gain(self) -> np.ndarray:
        """|coefficient| × spread of the WoE values (the linear analogue of split gain),
        weighted by the fitted rows' bin counts."""
        out = np.zeros(self.n_features)
        for j, spec in enumerate(self.woe.specs):
            b = self.woe.bins_[spec.name]
            n = np.asarray(b["n_nonevent"], float) + np.asarray(b["n_event"], float)
            w = np.r_[np.asarray(b["woe"], float), np.zeros(len(n) - len(b["woe"]) - 1),
                      b["woe_missing"]]
            if n.sum() > 0:
                mean = (n * w).sum() / n.sum()
                out[j] = abs(self.woe.coef_[j]) * np.sqrt((n * (w - mean) ** 2).sum() / n.sum())
        return out

    def to_text(self) -> str:
        import json

        return json.dumps(self.woe.to_dict(), indent=1, ensure_ascii=False)

    @classmethod
    def from_text(cls, text: str, specs: Any) -> WoeEngine:
        import json

        from models.woe import WoeScorecard

        return cls(WoeScorecard.from_dict(json.loads(text), specs))


class BlendEngine:
    family = "blend"
    model_file = MODEL_FILES["blend"]

    def __init__(self, booster: BoosterEngine, woe: WoeEngine, weight: float):
        self.parts = (booster, woe)
        self.weight = float(weight)  # of the LightGBM part

    @property
    def booster(self) -> lgb.Booster:
        return self.parts[0].booster

    @property
    def n_features(self) -> int:
        return self.parts[0].n_features

    @property
    def explainer(self) -> TreeShap | None:
        return self.parts[0].explainer

    @property
    def batch_explainer(self) -> PathShap | None:
        return self.parts[0].batch_explainer

    def _mix(self, a: Any, b: Any) -> Any:
        return self.weight * a + (1.0 - self.weight) * b

    def margin_one(self, x: np.ndarray) -> float:
        return float(self._mix(self.parts[0].margin_one(x), self.parts[1].margin_one(x)))

    def margins(self, X: np.ndarray, *, num_threads: int = 2) -> np.ndarray:
        return self._mix(self.parts[0].margins(X, num_threads=num_threads),
                         self.parts[1].margins(X))

    def contributions_one(self, x: np.ndarray) -> np.ndarray:
        return self._mix(self.parts[0].contributions_one(x), self.parts[1].contributions_one(x))

    def contributions(self, X: np.ndarray, *, num_threads: int = 2) -> np.ndarray:
        return self._mix(self.parts[0].contributions(X, num_threads=num_threads),
                         self.parts[1].contributions(X))

    def gain(self) -> np.ndarray:
        """The parts' gains as shares of their totals, blended with the weight."""
        a, b = self.parts[0].gain(), self.parts[1].gain()
        return self._mix(a / max(a.sum(), 1e-12), b / max(b.sum(), 1e-12))

    def to_text(self) -> str:
        import json

        return json.dumps({"weight_lightgbm": self.weight,
                           "parts": [MODEL_FILES["lightgbm"], MODEL_FILES["scorecard"]]})

    def files(self) -> dict[str, str]:
        return {MODEL_FILES["lightgbm"]: self.parts[0].to_text(),
                MODEL_FILES["scorecard"]: self.parts[1].to_text(), self.model_file: self.to_text()}

    @classmethod
    def from_texts(cls, blend: str, booster: str, woe: str, specs: Any) -> BlendEngine:
        import json

        weight = float(json.loads(blend)["weight_lightgbm"])
        if not 0.0 < weight < 1.0:
            raise ValueError(f"blend weight {weight} must be strictly between 0 and 1")
        return cls(BoosterEngine.from_text(booster), WoeEngine.from_text(woe, specs), weight)


def model_files(engine: Engine) -> dict[str, str]:
    """File name → text of the model files a version folder holds for ``engine``."""
    if isinstance(engine, BlendEngine):
        return engine.files()
    return {engine.model_file: engine.to_text()}


Engine = BoosterEngine | WoeEngine | BlendEngine
