"""Scoring API for the decision service (one row, fast) and the nightly job (batch).

The request path builds one 1×n float64 numpy row in the model's feature order (categories as
their integer codes, NaN for missing), asks the model's engine for the margin once (a LightGBM
booster with ``num_threads=1``, or a WOE scorecard's table look-ups), calibrates, converts to
points and grade, and reads reason codes from the engine's exact contributions (precomputed
TreeSHAP tables for LightGBM, coefficient × WoE for a scorecard). No DataFrame is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.calibration import Calibrator, calibrator_from_dict
from models.engines import MODEL_FILES, BlendEngine, BoosterEngine, Engine, WoeEngine
from models.errors import CorruptVersionError, ScoringInputError
from models.features import FeatureSpec, encode_frame
from models.reasons import Reason, TreeShap, top_k_indices, top_reasons
from models.scorecard import Scorecard

if TYPE_CHECKING:
    import lightgbm as lgb

    from models.registry import ModelVersion

GRADES = ("A", "B", "C", "D", "E")
_NUM, _CAT = 0, 1


@dataclass(frozen=True, slots=True)
class Score:
    """One applicant's result. ``pd``: calibrated probability of ``bad`` (0–1); ``score``:
    points (higher = safer); ``grade``: A (best) … E; ``reasons``: PD-raising factors, largest
    first; ``margin``: the booster's raw log-odds (for audit)."""

    pd: float
    score: int
    grade: str
    reasons: list[Reason] = field(default_factory=list)
    version: str = ""
    margin: float = 0.0


class ScoringModel:
    """A loaded model version: engine (LightGBM booster, WOE scorecard or their blend) + specs +
    calibrator + points scale and grades. ``engine`` may also be a bare ``lgb.Booster``."""

    def __init__(
        self,
        engine: Engine | lgb.Booster,
        specs: list[FeatureSpec],
        calibrator: Calibrator,
        scorecard: Scorecard,
        version: str = "unregistered",
        path: Path | None = None,
    ):
        if not isinstance(engine, BoosterEngine | WoeEngine | BlendEngine):
            engine = BoosterEngine(engine)
        self.engine: Engine = engine
        self.specs = list(specs)
        self.calibrator = calibrator
        self.scorecard = scorecard
        self.version = version
        self.path = path
        self.feature_names = tuple(s.name for s in self.specs)
        self._enc = [
            (s.name, _CAT if s.dtype == "category" else _NUM,
             {c: float(i) for i, c in enumerate(s.categories)})
            for s in self.specs
        ]

    @property
    def family(self) -> str:
        """``lightgbm``, ``scorecard`` or ``blend``."""
        return self.engine.family

    @property
    def booster(self) -> lgb.Booster | None:
        """The LightGBM booster (None for a scorecard)."""
        return getattr(self.engine, "booster", None)

    @classmethod
    def from_version(cls, mv: ModelVersion) -> ScoringModel:
        files = mv.manifest.get("files", {})
        def text(name: str) -> str:
            return (mv.path / MODEL_FILES[name]).read_text(encoding="utf-8")

        try:
            if MODEL_FILES["blend"] in files:
                engine: Engine = BlendEngine.from_texts(text("blend"), text("lightgbm"),
                                                        text("scorecard"), mv.features)
            elif MODEL_FILES["scorecard"] in files:
                engine = WoeEngine.from_text(text("scorecard"), mv.features)
            else:
                engine = BoosterEngine.from_text(mv.model_text())
            calibrator = calibrator_from_dict(mv.read_json("calibrator.json"))
            scorecard = Scorecard.from_dict(mv.read_json("scorecard.json"))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptVersionError(f"model version {mv.path} cannot be loaded: {exc}") from None
        if engine.n_features != len(mv.features):
            raise CorruptVersionError(
                f"model version {mv.path}: {engine.model_file} has {engine.n_features} "
                f"features, features.json {len(mv.features)}"
            )
        return cls(engine, mv.features, calibrator, scorecard, version=mv.version, path=mv.path)

    # -- encoding ------------------------------------------------------------------------
    def encode_row(self, features: Mapping[str, Any]) -> np.ndarray:
        """Shape (1, n_features) float64. Absent keys, None and NaN mean missing; bools → 0/1;
        categories by label. Raises ScoringInputError for text in a numeric feature or an
        unknown category label."""
        row = np.empty((1, len(self._enc)))
        for j, (name, kind, cats) in enumerate(self._enc):
            v = features.get(name)
            if v is None:
                row[0, j] = math.nan
            elif kind == _CAT:
                code = cats.get(v) if isinstance(v, str) else None
                if code is None:
                    if isinstance(v, float) and v != v:
                        code = math.nan
                    else:
                        raise ScoringInputError(
                            f"feature {name!r}: {v!r} is not one of {list(cats)}"
                        )
                row[0, j] = code
            else:
                try:
                    row[0, j] = float(v)
                except (TypeError, ValueError):
                    if type(v).__name__ in ("NAType", "NaTType"):
                        row[0, j] = math.nan
                    else:
                        raise ScoringInputError(
                            f"feature {name!r}: {v!r} is not a number"
                        ) from None
        return row

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Shape (rows, n_features) float64 from a frame holding every feature column."""
        absent = [n for n in self.feature_names if n not in frame.columns]
        if absent:
            raise ScoringInputError(f"frame lacks feature column(s) {absent[:5]}")
        return encode_frame(frame, self.specs)

    # -- explanation ---------------------------------------------------------------------
    @property
    def explainer(self) -> TreeShap | None:
        """LightGBM's precomputed TreeSHAP tables (None for a scorecard, or when the tables
        do not cover the model and ``pred_contrib`` is used)."""
        return self.engine.explainer

    def warm(self) -> None:
        """Build what the first request would otherwise pay for (reason tables)."""
        _ = self.engine.explainer

    def warm_batch(self) -> None:
        """Build what the first batch of reason codes would otherwise pay for (the batch
        contribution tables, `models.pathshap`: ~0.3 s) — a nightly worker, once."""
        _ = getattr(self.engine, "batch_explainer", None)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Contributions (log-odds) of one encoded row ``x`` (shape (n,) or (1, n)) → (n,)."""
        return self.engine.contributions_one(x)

    def reason_names(self, X: np.ndarray, k: int, *, num_threads: int = 2) -> np.ndarray:
        """The ``k`` features raising each encoded row's PD most, from the exact contributions
        only (no prediction: a caller that already scored the rows explains a subset of them
        without predicting them again) → object array (rows, k), None where fewer than ``k``
        contributions are positive."""
        names = np.array(self.feature_names + (None,), dtype=object)
        return names[top_k_indices(self.engine.contributions(X, num_threads=num_threads), k)]

    # -- scoring -------------------------------------------------------------------------
    def score(self, features: Mapping[str, Any], *, n_reasons: int = 4) -> Score:
        """Score one application: ``features`` maps feature name → value."""
        x = self.encode_row(features)
        return self._finish(x[0], self.engine.margin_one(x), n_reasons)

    def _finish(self, x: np.ndarray, margin: float, n_reasons: int) -> Score:
        logit = float(self.calibrator.logit(margin))
        pd_ = 1.0 / (1.0 + math.exp(-max(min(logit, 40.0), -40.0)))
        points = self.scorecard.points_one(logit)
        reasons = (
            top_reasons(self.contributions(x), x, self.specs, n_reasons) if n_reasons > 0 else []
        )
        return Score(pd_, points, self.scorecard.grade_one(points), reasons, self.version, margin)

    def margins(self, X: np.ndarray, *, num_threads: int = 2) -> np.ndarray:
        """Raw log-odds for an encoded matrix (rows, n_features) → (rows,)."""
        return self.engine.margins(X, num_threads=num_threads)

    def scores_of(self, X: np.ndarray, *, num_threads: int = 1
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(PD, points, grade letters) of an encoded matrix, without building a frame — for
        callers scoring many small candidate grids (re-apply guidance)."""
        logit = np.asarray(self.calibrator.logit(self.margins(X, num_threads=num_threads)),
                           float)
        points = self.scorecard.points_from_logit(logit)
        return (1.0 / (1.0 + np.exp(-np.clip(logit, -40, 40))), points,
                self.scorecard.grades(points))

    def score_frame(
        self,
        frame: pd.DataFrame,
        *,
        n_reasons: int = 0,
        num_threads: int = 2,
        batch_size: int = 250_000,
    ) -> pd.DataFrame:
        """Batch scores, index aligned with ``frame``: ``model_pd`` (float), ``model_score``
        (int), ``risk_grade`` (Categorical A–E), ``model_version``; with ``n_reasons`` > 0 also
        ``reason_1..k`` (feature names, exact contributions; LightGBM ~0.3 ms/row)."""
        n = len(frame)
        pd_out = np.empty(n)
        score_out = np.empty(n, np.int64)
        reason_cols = [np.empty(n, dtype=object) for _ in range(n_reasons)]
        for start in range(0, n, batch_size):
            part = frame.iloc[start:start + batch_size]
            X = self.encode(part)
            margin = self.margins(X, num_threads=num_threads)
            logit = np.asarray(self.calibrator.logit(margin), float)
            sl = slice(start, start + len(part))
            pd_out[sl] = 1.0 / (1.0 + np.exp(-np.clip(logit, -40, 40)))
            score_out[sl] = self.scorecard.points_from_logit(logit)
            if n_reasons:
                top = self.reason_names(X, n_reasons, num_threads=num_threads)
                for k in range(n_reasons):
                    reason_cols[k][sl] = top[:, k]
        out = pd.DataFrame(
            {
                "model_pd": pd_out,
                "model_score": score_out,
                "risk_grade": pd.Categorical(self.scorecard.grades(score_out), categories=GRADES),
                "model_version": self.version,
            },
            index=frame.index,
        )
        for k, col in enumerate(reason_cols, start=1):
            out[f"reason_{k}"] = col
        return out


def load_model(version: str, root: str | Path | None = None,
               purpose: str = "application") -> ScoringModel:
    """A version (``v0003``) or alias (``champion``) of ``purpose`` from the registry at
    ``root``."""
    from models.registry import Registry

    return ScoringModel.from_version(Registry(root, purpose).load(version))


def load_champion(root: str | Path | None = None, *, warm: bool = True) -> ScoringModel:
    """The live model. ``warm`` builds the reason tables now so the first request is fast."""
    model = load_model("champion", root)
    if warm:
        model.warm()
    return model


def load_challenger(root: str | Path | None = None, *, warm: bool = True) -> ScoringModel | None:
    """The shadow model, or None when no challenger is set."""
    from models.registry import Registry

    reg = Registry(root)
    if reg.aliases().get("challenger") is None:
        return None
    model = ScoringModel.from_version(reg.load("challenger"))
    if warm:
        model.warm()
    return model


@dataclass(frozen=True)
class ShadowScore:
    """The champion's score (which decides) and the challenger's (recorded only)."""

    champion: Score
    challenger: Score | None = None
    challenger_error: str | None = None


def score_with_shadow(
    champion: ScoringModel,
    challenger: ScoringModel | None,
    features: Mapping[str, Any],
    *,
    n_reasons: int = 4,
    challenger_reasons: int = 0,
) -> ShadowScore:
    """Champion score plus the challenger's on the same features. A challenger failure is
    recorded in ``challenger_error`` and never affects the champion's result."""
    champ = champion.score(features, n_reasons=n_reasons)
    if challenger is None:
        return ShadowScore(champ)
    try:
        return ShadowScore(champ, challenger.score(features, n_reasons=challenger_reasons))
    except Exception as exc:  # noqa: BLE001 - shadow scoring must not break decisions
        return ShadowScore(champ, None, f"{type(exc).__name__}: {exc}")


def shadow_frame(
    champion: ScoringModel, challenger: ScoringModel, frame: pd.DataFrame, **kwargs: Any
) -> pd.DataFrame:
    """Batch champion and challenger scores side by side (columns prefixed ``champion_`` /
    ``challenger_``), for comparing the two on the nightly portfolio."""
    a = champion.score_frame(frame, **kwargs).add_prefix("champion_")
    b = challenger.score_frame(frame, **kwargs).add_prefix("challenger_")
    return pd.concat([a, b], axis=1)
