"""Training: every labelled row before the test part is fitted.

1. The fitted part is cut into K cross-validation folds (forward in time when there is a time
   column, stratified otherwise: ``models.data.cv_folds``).
2. Each family is fitted on the same folds: LightGBM (the number of rounds chosen by early
   stopping on the folds' mean log-loss; optional bounded Optuna search) and the WOE logistic
   scorecard (optbinning bins + logistic regression, its penalty chosen on the folds).
   A blend (w · LightGBM + (1 − w) · scorecard log-odds, w chosen on the folds) is a third
   candidate, scored on the same out-of-fold margins at no extra fitting cost.
   ``family="auto"`` keeps the candidate with the higher mean fold AUC (a blend only when it
   beats both by ``BLEND_MARGIN``).
3. The chosen family is refitted on the whole fitted part; its calibrator (Platt/isotonic) is
   fitted on the out-of-fold margins (cross-fitted), and so are the grade bands.
4. The test part is only measured (against the WOE baseline and, on synthetic data, the oracle).

Defaults scale with the fitted part (``scaled_params``): a 1,000-row table gets small trees
with small leaves and more regularisation; 100,000 rows get today's 31 leaves × 50 rows.

``train_and_register`` is the whole pipeline behind ``chedaitong model train``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.calibration import Calibrator, make_calibrator
from models.data import Prepared, Split, SplitSpec, cv_folds, prepare, split_frame
from models.engines import BlendEngine, BoosterEngine, Engine, WoeEngine
from models.errors import ConfigError
from models.evaluate import auc, reference_distribution, summarize
from models.features import ColumnMapping, FeatureSpec, behaviour_features, encode_frame
from models.scorecard import BEHAVIOUR_QUANTILES, GradeSpec, Scorecard, fit_grades
from models.scoring import ScoringModel

if TYPE_CHECKING:
    import lightgbm as lgb

    from models.registry import Registry
    from models.woe import WoeScorecard

#: LightGBM 4.7 accepts a misspelled method silently, so we check it ourselves.
MONOTONE_METHODS = ("basic", "intermediate", "advanced")
FAMILIES = ("auto", "lightgbm", "scorecard", "blend")
#: LightGBM weights a blend is chosen from (the rest is the scorecard's).
BLEND_WEIGHTS = (0.25, 0.5, 0.75)
#: A blend must beat the better single family on the folds by this much (it chose a weight on
#: the same folds, so its fold AUC is slightly optimistic).
BLEND_MARGIN = 0.001
#: Penalties (inverse L2 strength) the scorecard's logistic regression is chosen from.
SCORECARD_C = (0.03, 0.1, 0.3, 1.0, 3.0)
#: A behaviour registry's defaults: the loan-month snapshot frame's target and time column
#: (``featurestore.snapshots``).
BEHAVIOUR_TARGET = "bad_60dpd_6m"
BEHAVIOUR_TIME = "snapshot_at"
#: A behaviour registry's grades unless asked otherwise (``--grades auto``): its own bands,
#: quantiles of its training snapshots' out-of-fold calibrated PD (``BEHAVIOUR_QUANTILES``).
BEHAVIOUR_GRADES = GradeSpec(
    "quantile", BEHAVIOUR_QUANTILES,
    why="behaviour purpose: quantiles of the training snapshots' calibrated PD "
        "(best 50 % A, 25 % B, 15 % C, 7 % D, riskiest 3 % E)")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters and run settings (all stored with the version). ``None`` means
    "scaled to the fitted part" (see ``scaled_params``)."""

    family: str = "auto"
    learning_rate: float = 0.05
    num_leaves: int | None = None
    max_depth: int = 8  # bounds the reason tables (2^d per leaf) and overfitting
    min_data_in_leaf: int | None = None
    min_data_per_group: int | None = None
    lambda_l2: float | None = None
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    cat_smooth: float = 10.0
    max_rounds: int = 2000
    early_stopping_rounds: int = 100
    folds: int | None = None
    monotone_constraints_method: str = "intermediate"
    seed: int = 42
    num_threads: int = 2
    calibration: str = "platt"
    baseline: bool = True
    tune_seconds: float = 0.0
    grades: GradeSpec = field(default_factory=GradeSpec)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"family must be one of {', '.join(FAMILIES)}, not {self.family!r}")
        if self.monotone_constraints_method not in MONOTONE_METHODS:
            raise ConfigError(
                f"monotone_constraints_method must be one of {', '.join(MONOTONE_METHODS)}, "
                f"not {self.monotone_constraints_method!r}"
            )
        if self.num_threads < 1:
            raise ConfigError("num_threads must be at least 1")
        if not 0 < self.learning_rate <= 1:
            raise ConfigError("learning_rate must be in (0, 1]")
        if self.max_rounds < 1 or self.early_stopping_rounds < 1:
            raise ConfigError("max_rounds and early_stopping_rounds must be positive")
        if self.folds is not None and not 2 <= self.folds <= 20:
            raise ConfigError("folds must be between 2 and 20")
        if self.tune_seconds < 0:
            raise ConfigError("the tuning budget must be a positive number of seconds")
        make_calibrator(self.calibration)  # validates the name

    def scaled_params(self, rows: int) -> dict[str, Any]:
        """Tree size and regularisation for ``rows`` fitted rows; explicit settings win.

        ``num_leaves`` = rows / 100 in [4, 31]; ``min_data_in_leaf`` = rows / 80 in [5, 50];
        ``min_data_per_group`` (rows per category split) likewise in [10, 100];
        ``lambda_l2`` = 5,000 / rows in [1, 10]; folds: 5 up to 20,000 rows, 4 up to 50,000,
        else 3 (large tables: each fold is already big, and CV costs folds × a fit)."""
        def pick(v: Any, scaled: Any) -> Any:
            return scaled if v is None else v

        return {
            "num_leaves": pick(self.num_leaves, int(np.clip(rows // 100, 4, 31))),
            "min_data_in_leaf": pick(self.min_data_in_leaf, int(np.clip(round(rows / 80), 5, 50))),
            "min_data_per_group": pick(self.min_data_per_group,
                                       int(np.clip(round(rows / 80), 10, 100))),
            "lambda_l2": pick(self.lambda_l2, float(np.clip(round(5000 / rows, 2), 1.0, 10.0))),
            "folds": pick(self.folds, 5 if rows <= 20_000 else 4 if rows <= 50_000 else 3),
        }

    def lgb_params(self, specs: Sequence[FeatureSpec], rows: int,
                   tuned: dict[str, Any] | None = None) -> dict[str, Any]:
        scaled = self.scaled_params(rows)
        params = {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": scaled["num_leaves"],
            "max_depth": self.max_depth,
            "min_data_in_leaf": scaled["min_data_in_leaf"],
            "min_data_per_group": scaled["min_data_per_group"],
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": scaled["lambda_l2"],
            "cat_smooth": self.cat_smooth,
            "monotone_constraints": [s.monotone for s in specs],
            "monotone_constraints_method": self.monotone_constraints_method,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            # tiny tables: thread start-up costs more than it saves
            "num_threads": self.num_threads if rows >= 20_000 else 1,
            "verbosity": -1,
        }
        return {**params, **(tuned or {})}


@dataclass
class CvResult:
    """One family fitted on the folds: its mean fold AUC, out-of-fold margins (NaN where a row
    was never held out) and what the folds chose (rounds, penalty, tuned parameters)."""

    family: str
    fold_auc: list[float]
    oof: np.ndarray
    chosen: dict[str, Any]
    seconds: float

    @property
    def auc_mean(self) -> float:
        return float(np.mean(self.fold_auc))

    def summary(self) -> dict[str, Any]:
        sd = float(np.std(self.fold_auc))
        return {"auc_mean": round(self.auc_mean, 5), "auc_sd": round(sd, 5),
                "fold_auc": [round(a, 5) for a in self.fold_auc], **self.chosen,
                "seconds": round(self.seconds, 2)}


@dataclass
class TrainedModel:
    """Everything a version folder stores, in memory."""

    model: ScoringModel
    specs: list[FeatureSpec]
    params: dict[str, Any]
    split: dict[str, Any]
    metrics: dict[str, Any]
    reference: dict[str, Any]
    fingerprint: dict[str, Any]
    baseline: WoeScorecard | None
    oot_frame: pd.DataFrame  # the test part (for the training report)
    train_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))

    @property
    def family(self) -> str:
        return self.model.family

    @property
    def booster(self) -> lgb.Booster | None:
        return self.model.booster

    @property
    def calibrator(self) -> Calibrator:
        return self.model.calibrator


def fingerprint(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """SHA-256 over the row hashes of ``columns`` (in order) plus their names and dtypes:
    identical training data ⇔ identical fingerprint."""
    h = hashlib.sha256()
    sub = frame[list(columns)]
    h.update(repr([(c, str(sub[c].dtype)) for c in sub.columns]).encode())
    h.update(pd.util.hash_pandas_object(sub, index=False).to_numpy().tobytes())
    return {"sha256": h.hexdigest(), "rows": int(len(frame)), "columns": list(columns)}


def row_hashes(X: np.ndarray) -> np.ndarray:
    """One 64-bit hash per row of an encoded matrix (rows, n_features): the same feature values
    give the same hash, whatever table they came from. Used to tell which rows of a frame a
    model was trained on."""
    if len(X) == 0:
        return np.zeros(0, np.uint64)
    return pd.util.hash_pandas_object(pd.DataFrame(X), index=False).to_numpy(np.uint64)


# -- the families on the folds ---------------------------------------------------------------
def _local(folds: list[tuple[np.ndarray, np.ndarray]], rows: np.ndarray
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fold positions (into the frame) as positions into ``rows``."""
    where = np.full(int(rows.max()) + 1, -1, np.intp)
    where[rows] = np.arange(len(rows))
    return [(where[a], where[b]) for a, b in folds]


def _lightgbm_cv(X: np.ndarray, y: np.ndarray, folds: list, specs: Sequence[FeatureSpec],
                 config: TrainConfig, rows: int, tuned: dict[str, Any] | None = None
                 ) -> CvResult:
    import lightgbm as lgb

    t0 = time.perf_counter()
    params = config.lgb_params(specs, rows, tuned)
    cat_idx = [j for j, s in enumerate(specs) if s.dtype == "category"]
    data = lgb.Dataset(X, y, feature_name=[s.name for s in specs],
                       categorical_feature=cat_idx, free_raw_data=False,
                       params={"verbosity": -1})
    res = lgb.cv(params, data, num_boost_round=config.max_rounds, folds=folds,
                 callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
                 return_cvbooster=True)
    best = len(res["valid binary_logloss-mean"])
    oof = np.full(len(y), np.nan)
    aucs = []
    for booster, (_, held) in zip(res["cvbooster"].boosters, folds, strict=True):
        oof[held] = booster.predict(X[held], raw_score=True, num_iteration=best)
        aucs.append(auc(y[held], oof[held]))
    chosen = {"rounds": int(best), **({"tuned": tuned} if tuned else {})}
    return CvResult("lightgbm", aucs, oof, chosen, time.perf_counter() - t0)


def _tune_lightgbm(X: np.ndarray, y: np.ndarray, folds: list, specs: Sequence[FeatureSpec],
                   config: TrainConfig, rows: int, start: CvResult) -> tuple[CvResult, dict]:
    """Bounded Optuna (TPE, seeded) search over tree size and regularisation on the same
    folds, maximising the mean fold AUC; the scaled defaults are the first trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best = {"result": start}
    leaf_max = max(8, min(63, rows // 20))

    def objective(trial: optuna.Trial) -> float:
        tuned = {
            "num_leaves": trial.suggest_int("num_leaves", 4, leaf_max, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5,
                                                  max(6, min(200, rows // 20)), log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 0.1, 30.0, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "min_data_per_group": trial.suggest_int("min_data_per_group", 5, 100, log=True),
        }
        result = _lightgbm_cv(X, y, folds, specs, config, rows, tuned)
        if result.auc_mean > best["result"].auc_mean:
            best["result"] = result
        return result.auc_mean

    t0 = time.perf_counter()
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.optimize(objective, timeout=config.tune_seconds, n_trials=None)
    report = {"library": "optuna", "budget_seconds": config.tune_seconds,
              "seconds": round(time.perf_counter() - t0, 1), "trials": len(study.trials),
              "default_auc": round(start.auc_mean, 5),
              "best_auc": round(best["result"].auc_mean, 5),
              "best": best["result"].chosen.get("tuned")}
    return best["result"], report


def _scorecard_cv(X: np.ndarray, y: np.ndarray, folds: list, specs: Sequence[FeatureSpec],
                  prebins: int) -> CvResult:
    from models.woe import WoeScorecard

    t0 = time.perf_counter()
    per_c = {c: [] for c in SCORECARD_C}
    margins = {c: np.full(len(y), np.nan) for c in SCORECARD_C}
    for fit_rows, held in folds:
        sc = WoeScorecard(specs, max_n_prebins=prebins).fit_bins(X[fit_rows], y[fit_rows])
        W_fit, W_held = sc.woe(X[fit_rows]), sc.woe(X[held])
        for c in SCORECARD_C:
            sc.fit_logistic(W_fit, y[fit_rows], C=c)
            margins[c][held] = W_held @ sc.coef_ + sc.intercept_
            per_c[c].append(auc(y[held], margins[c][held]))
    best_c = max(SCORECARD_C, key=lambda c: (np.mean(per_c[c]), -abs(np.log(c))))
    chosen = {"C": best_c, "max_n_prebins": prebins,
              "auc_by_C": {str(c): round(float(np.mean(v)), 5) for c, v in per_c.items()}}
    return CvResult("scorecard", per_c[best_c], margins[best_c], chosen,
                    time.perf_counter() - t0)


def _blend_cv(y: np.ndarray, folds: list, lgb_res: CvResult, sc_res: CvResult) -> CvResult:
    """The best blend weight on the folds, from the two families' out-of-fold margins."""
    best: tuple[float, list[float], np.ndarray] | None = None
    for w in BLEND_WEIGHTS:
        oof = w * lgb_res.oof + (1 - w) * sc_res.oof
        aucs = [auc(y[held], oof[held]) for _, held in folds]
        if best is None or np.mean(aucs) > np.mean(best[1]):
            best = (w, aucs, oof)
    w, aucs, oof = best  # type: ignore[misc]
    chosen = {"weight_lightgbm": w, "rounds": lgb_res.chosen["rounds"], "C": sc_res.chosen["C"]}
    if "tuned" in lgb_res.chosen:
        chosen["tuned"] = lgb_res.chosen["tuned"]
    return CvResult("blend", aucs, oof, chosen, 0.0)


def _choose(results: dict[str, CvResult], requested: str) -> str:
    """The family to refit: the requested one, or (auto) the best mean fold AUC — a tie goes
    to the simpler scorecard, and a blend must beat both single families by BLEND_MARGIN."""
    if requested != "auto":
        return requested
    single = max((k for k in results if k != "blend"),
                 key=lambda k: (round(results[k].auc_mean, 6), k == "scorecard"))
    if "blend" in results and results["blend"].auc_mean > results[single].auc_mean + BLEND_MARGIN:
        return "blend"
    return single


def scorecard_prebins(rows: int) -> int:
    """optbinning's pre-bins: 10 below 5,000 fitted rows (each pre-bin ≥ 5 % of rows anyway),
    else its default 20."""
    return 10 if rows < 5000 else 20


# -- fit ----------------------------------------------------------------------------------
def fit(prepared: Prepared, split: Split, config: TrainConfig = TrainConfig()) -> TrainedModel:
    """Cross-validate, choose the family, refit on the fitted part, calibrate on the
    out-of-fold margins and measure on the test part."""
    started = time.perf_counter()
    specs = list(prepared.specs)
    frame, target = prepared.frame, prepared.target
    X_all = encode_frame(frame, specs)
    y_all = frame[target].to_numpy(dtype=float)
    rows = split.train
    X, y = X_all[rows], y_all[rows]
    scaled = config.scaled_params(len(rows))
    folds_abs, how = cv_folds(prepared, rows, scaled["folds"], config.seed)
    folds = _local(folds_abs, rows)
    seconds: dict[str, float] = {}
    results: dict[str, CvResult] = {}
    tuning = None
    if config.family in ("auto", "lightgbm", "blend"):
        res = _lightgbm_cv(X, y, folds, specs, config, len(rows))
        if config.tune_seconds > 0:
            res, tuning = _tune_lightgbm(X, y, folds, specs, config, len(rows), res)
        results["lightgbm"] = res
    prebins = scorecard_prebins(len(rows))
    if config.family in ("auto", "scorecard", "blend"):
        results["scorecard"] = _scorecard_cv(X, y, folds, specs, prebins)
    if "lightgbm" in results and "scorecard" in results:
        results["blend"] = _blend_cv(y, folds, results["lightgbm"], results["scorecard"])
    for name, res in results.items():
        seconds[f"cv_{name}"] = round(res.seconds, 2)
    family = _choose(results, config.family)
    chosen = results[family]

    t0 = time.perf_counter()
    baseline = None
    lgb_params: dict[str, Any] = {}
    parts: dict[str, Any] = {}
    if family in ("lightgbm", "blend"):
        import lightgbm as lgb

        lgb_params = config.lgb_params(specs, len(rows), chosen.chosen.get("tuned"))
        cat_idx = [j for j, s in enumerate(specs) if s.dtype == "category"]
        booster = lgb.train(lgb_params, lgb.Dataset(X, y, feature_name=[s.name for s in specs],
                                                    categorical_feature=cat_idx),
                            num_boost_round=chosen.chosen["rounds"])
        parts["lightgbm"] = BoosterEngine(booster)
    if family in ("scorecard", "blend"):
        from models.woe import WoeScorecard

        woe = WoeScorecard(specs, C=chosen.chosen["C"], max_n_prebins=prebins).fit_bins(X, y)
        woe.fit_logistic(woe.woe(X), y)
        parts["scorecard"] = WoeEngine(woe)
    engine: Engine = (BlendEngine(parts["lightgbm"], parts["scorecard"],
                                  chosen.chosen["weight_lightgbm"])
                      if family == "blend" else parts[family])
    seconds["refit"] = round(time.perf_counter() - t0, 2)

    held = ~np.isnan(chosen.oof)
    calibrator = make_calibrator(config.calibration).fit(chosen.oof[held], y[held])
    oof_logit = np.asarray(calibrator.logit(chosen.oof[held]), float)
    base = Scorecard()
    card = fit_grades(base, base.points_from_logit(oof_logit), config.grades)
    model = ScoringModel(engine, specs, calibrator, card)

    metrics: dict[str, Any] = {
        "family": family,
        "best_iteration": chosen.chosen.get("rounds"),
        "test_kind": split.kind,
        "cv": {"method": how, "folds": len(folds), "chosen": family,
               "families": {k: r.summary() for k, r in results.items()},
               "out_of_fold": summarize(y[held], calibrator.predict(chosen.oof[held]))},
    }
    if tuning:
        metrics["tuning"] = tuning
    margin = {"train": engine.margins(X, num_threads=config.num_threads),
              "test": engine.margins(X_all[split.test], num_threads=config.num_threads)}
    for part, idx in (("train", rows), ("test", split.test)):
        yy = y_all[idx]
        m = summarize(yy, calibrator.predict(margin[part]))
        m["ece_uncalibrated"] = summarize(yy, 1 / (1 + np.exp(-margin[part])))["ece"]
        metrics["oot" if part == "test" else part] = m
    oot = frame.iloc[split.test].reset_index(drop=True)
    if config.baseline:
        from models.woe import WoeScorecard

        # the benchmark: C = 1 on the same pre-binning (bins shared with a scorecard refit)
        t0 = time.perf_counter()
        baseline = WoeScorecard(specs, max_n_prebins=prebins)
        if "scorecard" in parts:
            baseline.bins_ = parts["scorecard"].woe.bins_
        else:
            baseline.fit_bins(X, y)
        baseline.fit_logistic(baseline.woe(X), y)
        seconds["woe_baseline"] = round(time.perf_counter() - t0, 2)
        metrics["baseline_oot"] = summarize(y_all[split.test],
                                            baseline.predict_proba(oot))
    if "true_pd" in frame.columns and frame["true_pd"].notna().all():
        metrics["oracle_oot"] = summarize(y_all[split.test], oot["true_pd"].to_numpy(float))
    train_scores = card.points_from_logit(np.asarray(calibrator.logit(margin["train"]), float))
    cols = [s.name for s in specs] + [target] + ([prepared.time] if prepared.time else [])
    seconds["total"] = round(time.perf_counter() - started, 2)
    metrics["seconds"] = seconds
    params: dict[str, Any] = {
        "family": family,
        "config": {**asdict(config), "grades": config.grades.to_dict()},
        "scaled": scaled,
        "cv": {"method": how, "folds": len(folds)},
    }
    if "lightgbm" in parts:
        params.update(lgb_params)
        params["num_boost_round"] = int(chosen.chosen["rounds"])
    if "scorecard" in parts:
        params.update({"C": chosen.chosen["C"], "max_n_prebins": prebins,
                       "seed": config.seed})
    if family == "blend":
        params["weight_lightgbm"] = chosen.chosen["weight_lightgbm"]
    if tuning:
        params["tuning"] = tuning
    return TrainedModel(
        model=model,
        specs=specs,
        params=params,
        split=split.summary(frame, target, prepared.time),
        metrics=metrics,
        reference=reference_distribution(train_scores, X, specs),
        fingerprint=fingerprint(frame, cols),
        baseline=baseline,
        oot_frame=oot,
        train_rows=np.unique(row_hashes(X)),
    )


def train_and_register(
    frame: pd.DataFrame,
    registry: Registry,
    *,
    target: str | None = None,
    bad: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    mapping: ColumnMapping | None = None,
    time: str | None = None,
    split: SplitSpec | None = None,
    config: TrainConfig | None = None,
    report: bool = True,
    source: str = "",
    cat: Any = None,
) -> tuple[str, TrainedModel]:
    """Check → split → cross-validate and train → register (with its test report).
    Returns (version, result).

    ``target`` defaults to the mapping's target, else ``bad_12m`` (a behaviour registry:
    ``bad_60dpd_6m`` on ``snapshot_at``, the loan-entity features of the frame); ``bad`` (the
    target labels meaning bad) to the mapping's; ``time`` to the mapping's time column, else
    ``applied_at`` when present (``""`` forces a row-order hold-out)."""
    behaviour = getattr(registry, "purpose", "application") == "behaviour"
    target = (target or (mapping.target if mapping else None)
              or (BEHAVIOUR_TARGET if behaviour else "bad_12m"))
    bad = bad or (mapping.bad if mapping else None)
    if time is None:
        time = (mapping.time if mapping else None) or (
            BEHAVIOUR_TIME if behaviour else "applied_at")
    if behaviour and not features and mapping is None:
        # a feature the frame never observed (no application scores given) is left out
        features = [s.name for s in behaviour_features(list(frame.columns), cat)
                    if frame[s.name].notna().any()]
    prepared = prepare(frame, target=target, features=features, mapping=mapping, time=time,
                       bad=bad, cat=cat)
    parts = split_frame(prepared, split or SplitSpec())
    config = config or TrainConfig()
    if behaviour and config.grades == GradeSpec():
        config = replace(config, grades=BEHAVIOUR_GRADES)
    trained = fit(prepared, parts, config)
    info = {
        "target": prepared.target,
        "bad": list(prepared.bad) if prepared.bad else None,
        "time": prepared.time,
        "source": source,
        "dropped_unlabelled": prepared.dropped_unlabelled,
    }
    version = registry.register(trained, info=info, report=report)
    return version, trained


def setting(r: dict[str, Any]) -> str:
    """What the folds chose for one family, in words."""
    if "weight_lightgbm" in r:
        return f"{r['weight_lightgbm']:.0%} LightGBM"
    return f"{r['rounds']} trees" if "rounds" in r else f"C {r['C']:g}"


def part_label(kind: str) -> str:
    """``OOT`` for an out-of-time test part, ``hold-out`` otherwise (for headlines)."""
    return "OOT" if kind == "out-of-time" else "hold-out"


def describe(version: str, path: Path, trained: TrainedModel) -> list[str]:
    """Lines the CLI prints after training: the split, the families on the folds and the
    headline metrics."""
    sp, m = trained.split, trained.metrics
    kind = sp.get("kind", "out-of-time")
    label = part_label(kind)
    where = f" from {sp['test_from']}" if sp.get("test_from") else " (last rows in file order)"
    lines = [f"registered {version} at {path}", f"split: {sp['method']}, {kind} test part{where}"]
    for part in ("train", "test"):
        d = sp[part]
        period = f"  {d['from']} → {d['to']}" if "from" in d else ""
        name = "fitted" if part == "train" else "test"
        lines.append(f"  {name:<6} {d['rows']:>9,} rows  {d['bads']:>7,} bads  "
                     f"bad rate {d['bad_rate']:.2%}{period}")
    cv = m["cv"]
    fams = "; ".join(f"{k} AUC {r['auc_mean']:.4f} ± {r['auc_sd']:.4f} ({setting(r)})"
                     for k, r in cv["families"].items())
    lines.append(f"{cv['method']}: {fams} → {cv['chosen']}")
    if "tuning" in m:
        t = m["tuning"]
        lines.append(f"tuning: {t['trials']} trials in {t['seconds']} s, fold AUC "
                     f"{t['default_auc']:.4f} → {t['best_auc']:.4f}")
    o = m["oot"]
    lines.append(f"{label} AUC {o['auc']:.4f}  KS {o['ks']:.4f}  Brier {o['brier']:.5f}  "
                 f"ECE {o['ece']:.4f} (uncalibrated {o['ece_uncalibrated']:.4f})")
    if "baseline_oot" in m:
        lines.append(f"WOE scorecard baseline {label} AUC {m['baseline_oot']['auc']:.4f}")
    if "oracle_oot" in m:
        lines.append(f"oracle (true PD) {label} AUC {m['oracle_oot']['auc']:.4f}")
    g = trained.model.scorecard.grading
    shares = ", ".join(f"{letter} {s:.0%}" for letter, s in zip("ABCDE", g.get("shares", []),
                                                                 strict=False))
    lines.append(f"grades: {g.get('why', g['method'])}; training shares {shares}")
    return lines
